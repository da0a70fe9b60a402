#ifndef FERRY_CNATS_SHIM_H
#define FERRY_CNATS_SHIM_H
#include <nats/nats.h>
#endif
