#!/bin/sh
# Fills a credentials template: every "KEY:NAME" becomes the public key of KEYDIR/NAME.key, the
# public certificate `ferry keygen NAME --dir KEYDIR` wrote. Fails, writing nothing, when a
# certificate is missing or holds no public key.
#   deploy/fill-credentials.sh KEYDIR deploy/credentials.yaml > credentials.yaml.new
set -eu
[ $# -eq 2 ] || { echo "usage: $0 KEYDIR TEMPLATE > OUTPUT" >&2; exit 64; }
filled=$(awk -v dir="$1" '
    /^[ \t]*#/ { print; next }
    {
        while (match($0, /"KEY:[A-Za-z0-9_.-]+"/)) {
            name = substr($0, RSTART + 5, RLENGTH - 6)
            file = dir "/" name ".key"
            key = ""
            while ((getline line < file) > 0)
                if (line ~ /^[ \t]+public-key[ \t]*=/) { split(line, part, "\""); key = part[2] }
            close(file)
            if (length(key) != 40) { print "fill-credentials: no public key in " file > "/dev/stderr"; exit 1 }
            $0 = substr($0, 1, RSTART - 1) "\"" key "\"" substr($0, RSTART + RLENGTH)
        }
        print
    }' "$2")
printf '%s\n' "$filled"
