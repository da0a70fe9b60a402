#!/usr/bin/env bash
# A consumer-group member of ferryd's HTTP API in bash, curl and jq (docs/http-api.md).
#
#   curl-consumer.sh BASE_URL GROUP MEMBER TOPICS [COUNT]
#
#   BASE_URL  ferryd's HTTP address, e.g. http://127.0.0.1:7480
#   GROUP     the consumer group to join (made on the first fetch if it does not exist)
#   MEMBER    this member's name within the group (one process per name)
#   TOPICS    comma-separated topic patterns, e.g. 'orders.>' or 'orders.created,orders.paid'
#   COUNT     stop after acking this many deliveries (0 or absent: run until SIGINT/SIGTERM)
#
# Each argument may also come from the environment variable of the same name. Optional
# environment:
#   FERRY_AUTH    NAME:SECRET of a principal (sent with HTTP Basic) when ferryd has security
#   HANDLER       a command run for each delivery with its JSON ({delivery_id, attempt, event, ...})
#                 on stdin: exit 0 acks it, anything else nacks it (retried with the group's
#                 backoff; its stderr's last line is kept as the event's last error). Without
#                 HANDLER every delivery is acked.
#   MAX           most deliveries per fetch (default 10; also the member's credit, max_in_flight)
#   WAIT          long-poll seconds per fetch, 0-30 (default 20)
#   START         earliest (default) or latest: where a group this member creates starts
#
# Prints the id of each event it handled (acked) on its own line on stdout; progress and
# errors go to stderr. Exits 0 once COUNT deliveries are acked, after leaving the group
# (DELETE of the member, so nothing stays reserved for it). Needs only bash, curl and jq.
set -euo pipefail

BASE_URL=${1:-${BASE_URL:-}}
GROUP=${2:-${GROUP:-}}
MEMBER=${3:-${MEMBER:-}}
TOPICS=${4:-${TOPICS:-}}
COUNT=${5:-${COUNT:-0}}
MAX=${MAX:-10}
WAIT=${WAIT:-20}
START=${START:-earliest}

if [[ -z $BASE_URL || -z $GROUP || -z $MEMBER || -z $TOPICS ]]; then
    echo "usage: $0 BASE_URL GROUP MEMBER TOPICS [COUNT]" >&2
    exit 2
fi
if ! [[ $COUNT =~ ^[0-9]+$ && $MAX =~ ^[0-9]+$ && $WAIT =~ ^[0-9]+$ ]] || ((MAX < 1 || MAX > 1000 || WAIT > 30)); then
    echo "COUNT must be a number, MAX 1-1000 and WAIT 0-30" >&2
    exit 2
fi

log() { echo "curl-consumer: $*" >&2; }
uri() { jq -rn --arg v "$1" '$v | @uri'; }
# Sleeps without coreutils: a read that nothing ever answers, for $1 seconds.
pause() { read -rt "$1" _ <> <(:) || true; }

BASE_URL=${BASE_URL%/}
MEMBER_URL="$BASE_URL/api/v1/groups/$(uri "$GROUP")/members/$(uri "$MEMBER")"
AUTH=()
[[ -n ${FERRY_AUTH:-} ]] && AUTH=(--user "$FERRY_AUTH")

# call METHOD URL [JSON-BODY]: sets STATUS (000 when ferryd cannot be reached) and BODY.
call() {
    local reply
    local args=(-sS -X "$1" ${AUTH[@]+"${AUTH[@]}"} --max-time $((WAIT + 20)) -w '\n%{http_code}')
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    reply=$(curl "${args[@]}" "$2" 2>/dev/null) || reply=$'\n000'
    STATUS=${reply##*$'\n'}
    BODY=${reply%$'\n'*}
}

# The error a reply carries, as CODE: message.
error_of() {
    if [[ $STATUS == 000 ]]; then
        echo "cannot reach $BASE_URL"
    else
        jq -r '"\(.error.code): \(.error.message)"' <<<"$BODY" 2>/dev/null || echo "$BODY"
    fi
}

leave() {
    call DELETE "$MEMBER_URL"
    case $STATUS in
    204) log "left group '$GROUP' as '$MEMBER'" ;;
    404) ;; # it had expired, or never fetched
    *) log "leaving failed ($STATUS): $(error_of)" ;;
    esac
}
trap 'leave; exit 130' INT
trap 'leave; exit 143' TERM

FETCH_URL="$MEMBER_URL/fetch?topics=$(uri "$TOPICS")&wait=$WAIT&max_in_flight=$MAX&start=$(uri "$START")"
handled=0
backoff=1
log "consuming '$TOPICS' in group '$GROUP' as '$MEMBER' from $BASE_URL"
while ((COUNT == 0 || handled < COUNT)); do
    max=$MAX
    ((COUNT > 0 && COUNT - handled < max)) && max=$((COUNT - handled))
    call POST "$FETCH_URL&max=$max"
    case $STATUS in
    200) backoff=1 ;;
    000 | 429 | 5??)
        log "fetch failed ($STATUS): $(error_of); retrying in ${backoff}s"
        pause "$backoff"
        backoff=$((backoff < 30 ? backoff * 2 : 30))
        continue
        ;;
    *)
        log "fetch refused ($STATUS): $(error_of)"
        # A member whose subscription ferryd ended (a revoked grant) keeps failing until it
        # is deleted: leave, so that a later run starts afresh.
        leave
        exit 1
        ;;
    esac

    while IFS= read -r delivery; do
        read -r id event_id < <(jq -r '"\(.delivery_id) \(.event.id)"' <<<"$delivery")
        if [[ -z ${HANDLER:-} ]]; then
            outcome=ack
        elif problem=$(bash -c "$HANDLER" <<<"$delivery" 2>&1 >/dev/null); then
            outcome=ack
        else
            outcome=nack
        fi
        if [[ $outcome == ack ]]; then
            call POST "$MEMBER_URL/deliveries/$id/ack"
        else
            call POST "$MEMBER_URL/deliveries/$id/nack" "$(jq -cn --arg e "${problem##*$'\n'}" '{error: $e}')"
        fi
        case $STATUS in
        200)
            if [[ $outcome == ack ]]; then
                echo "$event_id"
                handled=$((handled + 1))
            else
                log "nacked event $event_id (delivery $id)"
            fi
            ;;
        404) log "delivery $id of event $event_id was no longer ours ($(error_of)); it comes again" ;;
        *) log "$outcome of delivery $id failed ($STATUS): $(error_of)" ;;
        esac
    done < <(jq -c '.deliveries[]' <<<"$BODY")
done

trap - INT TERM
leave
log "handled $handled deliveries"
