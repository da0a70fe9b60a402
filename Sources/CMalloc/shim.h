#ifndef FERRY_CMALLOC_SHIM_H
#define FERRY_CMALLOC_SHIM_H
// glibc's allocator tuning (mallopt), which the Glibc module does not export.
#include <malloc.h>
#endif
