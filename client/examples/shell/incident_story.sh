#!/usr/bin/env bash
# One incident, from report to satisfaction, through gridctl against a
# running gridd (`make run`, dev mode) whose county already has its incident
# catalogue and grids (`gridctl simulate` publishes both):
#
#   client/examples/shell/incident_story.sh [GRIDCTL] [--server host:port]
#
# (COUNTY=350584 for another simulated county; INCIDENT=id to name it.)
#
# A citizen reports exposed garbage in grid 350583/101/201/g01. The village
# accepts it and sends it to the county's sanitation department, whose queue
# shows it with its due time; the department acknowledges and puts it right
# (after-photo by hash); the grid worker checks on the spot; the village
# closes it and calls the citizen back, who is satisfied. Each step is one
# event of the stream incident/<id>, and the rules would refuse any step out
# of order (try appending the rating first).
set -euo pipefail
GRIDCTL=${1:-build/gridctl}
shift || true
I=${INCIDENT:-story-$(date +%s)}
C=${COUNTY:-350583}
G=$C/101/201/g01
V=$C/101/201
DEPT=county-sanitation
# One moment for the whole story (its steps' occurred_at), and its month in
# China time, which incident_stats buckets by.
NOW=$(date -u +%s)
AT=$(date -u -d "@$NOW" +%Y-%m-%dT%H:%M:%SZ)
MONTH=$(date -u -d "@$((NOW + 8 * 3600))" +%Y-%m)
PHOTO=$(printf 'after-photo of %s' "$I" | sha256sum | cut -d' ' -f1)

event() {  # event TYPE FIELD BODY
  printf '{"event_id":"%s-%s","type":"%s","org_path":"%s","occurred_at":"%s","%s":%s}' \
    "$I" "$1" "$1" "$G" "$AT" "$2" "$3"
}
# Appends one step; POS is the position it was committed at (views are read
# with --min_position POS: read your own writes).
append() {
  POS=$("$GRIDCTL" append "${ARGS[@]}" --stream "incident/$I" "$(event "$@")" |
    sed -n 's/.*"head_position":"\([0-9]*\)".*/\1/p')
}
ARGS=("$@")

echo "1. a citizen reports exposed garbage in $G"
append IncidentReported incident_reported '{"incident_id":"'$I'","category":"ENV.GARBAGE.EXPOSED",
  "source":"CITIZEN","org_path":"'$G'","title":"垃圾堆放在路边",
  "reporter":{"person":{"person_token":"pt-story","name":"林晓","phone":"13812341234"}}}'
echo "2. the village accepts it and dispatches it to the county's sanitation department"
append IncidentAccepted incident_accepted '{"incident_id":"'$I'","by_org":"'$V'"}'
append IncidentDispatched incident_dispatched '{"incident_id":"'$I'","by_org":"'$V'","to_org":"'$C'",
  "to_department":"'$DEPT'","instructions":"clear it today"}'
echo "   the department's queue now holds it, with its due time:"
"$GRIDCTL" projection get incident_board --row "$C#$DEPT#$I" --min_position "$POS" "${ARGS[@]}" --output json
echo "3. the department acknowledges it and puts it right"
append IncidentAcknowledged incident_acknowledged '{"incident_id":"'$I'","handler_org":"'$C'","department":"'$DEPT'"}'
append IncidentResolutionSubmitted incident_resolution_submitted '{"incident_id":"'$I'","handler_org":"'$C'",
  "department":"'$DEPT'","summary":"cleared and disinfected","media":[{"sha256":"'$PHOTO'","label":"AFTER"}]}'
echo "4. the grid checks on the spot, the village closes it and calls the citizen back"
append IncidentVerified incident_verified '{"incident_id":"'$I'","by_org":"'$G'","passed":true}'
append IncidentClosed incident_closed '{"incident_id":"'$I'","by_org":"'$V'","outcome":"RESOLVED"}'
append IncidentRated incident_rated '{"incident_id":"'$I'","by_org":"'$V'","satisfaction":5}'
echo "5. the whole story, as the log keeps it:"
"$GRIDCTL" read --stream "incident/$I" "${ARGS[@]}" | sed -n 's/.*"type":"\([A-Za-z]*\)".*/   \1/p'
echo "   and the grid's month in incident_stats:"
"$GRIDCTL" projection get incident_stats --row "$G#$MONTH" --min_position "$POS" \
  "${ARGS[@]}" --output json
