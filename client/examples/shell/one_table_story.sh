#!/usr/bin/env bash
# "One table" (一表通): a village that no longer retypes its daily form,
# through gridctl against a running gridd (`make run`, dev mode) whose
# county is already simulated (`gridctl simulate`: grids and households):
#
#   client/examples/shell/one_table_story.sh [GRIDCTL] [--server host:port]
#
# (COUNTY=350584 for another simulated county; TASK=prefix to name the forms.)
#
# The county health office issues its daily village report: households and
# residents (the network already counts them), the village's contracted
# cleaners (a number it types once), and the day's issues found (new every
# day). On day 1 the village types two of the four items; on day 2 the form
# offers yesterday's count of cleaners too, and the village types one.
# reporting_burden keeps the count.
set -euo pipefail
GRIDCTL=${1:-build/gridctl}
shift || true
ARGS=("$@")
C=${COUNTY:-350583}
V=$C/101/201
T=${TASK:-daily-$(date +%s)}
AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DUE=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)

issue() {  # issue TASK: the day's form, to every village of the county
  "$GRIDCTL" append "${ARGS[@]}" --stream "form/$1" '{"event_id":"'$1'-issued","type":"FormTaskIssued",
    "org_path":"'$C'","occurred_at":"'$AT'","form_task_issued":{"task_id":"'$1'","issuer":"county-health",
    "title":"daily village report","target_org_prefix":"'$C'","target_level":3,"due":"'$DUE'",
    "approval_ref":"county-forms-2026-17","fields":[
      {"canonical_path":"population.households","unit":"household","value_class":"C0_AGGREGATE","prefill":true},
      {"canonical_path":"population.residents","unit":"person","value_class":"C0_AGGREGATE","prefill":true},
      {"canonical_path":"village.cleaners","unit":"person","value_class":"C0_AGGREGATE","prefill":true},
      {"canonical_path":"village.daily.issues_found","unit":"issue","value_class":"C0_AGGREGATE"}]}}' |
    sed -n 's/.*"head_position":"\([0-9]*\)".*/\1/p'
}
# Submits the village's form; POS is the position it was committed at.
submit() {
  POS=$("$GRIDCTL" form submit "$@" "${ARGS[@]}" | sed -n 's/.*"head_position":"\([0-9]*\)".*/\1/p')
}

echo "day 1: the county issues $T-1; the village $V opens it"
POS=$(issue "$T-1")
"$GRIDCTL" form prefill "$T-1" --org "$V" --min_position "$POS" "${ARGS[@]}" --output table
echo "   it types its cleaners and the day's count, and confirms the rest"
submit "$T-1" --org "$V" --min_position "$POS" --set village.cleaners=4 --set village.daily.issues_found=2
echo "day 2: $T-2 offers yesterday's count of cleaners too"
POS=$(issue "$T-2")
"$GRIDCTL" form prefill "$T-2" --org "$V" --min_position "$POS" "${ARGS[@]}" --output table
echo "   the village types only the day's count"
submit "$T-2" --org "$V" --min_position "$POS" --set village.daily.issues_found=0
echo "what each form asked of the village, and what it had to type (reporting_burden):"
for day in 1 2; do
  "$GRIDCTL" projection get reporting_burden --row "$V#$T-$day" --min_position "$POS" "${ARGS[@]}" --output json
done
