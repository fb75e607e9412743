// A village collective's ledger (ledger/<village>): entries in integer fen,
// corrections only by reversal. Every rule of this aggregate's event types
// is here: their fields, the stream they belong in, the stateful checks and
// the fold (aggregate.h).
#include "absl/strings/str_cat.h"
#include "domain/aggregates/aggregate.h"
#include "domain/work_calendar.h"

namespace grid::domain {
namespace {

absl::Status CheckBody(const Event& e) {
  if (!e.has_ledger_entry_posted()) return Invalid("type", "is not a catalog event");
  const auto& l = e.ledger_entry_posted();
  if (auto s = RequireId("ledger_entry_posted.entry_id", l.entry_id()); !s.ok()) return s;
  if (auto s = RequireOrgPath("ledger_entry_posted.village", l.village()); !s.ok()) return s;
  if (Depth(l.village()) != 3)
    return Invalid("ledger_entry_posted.village", "is a village (county/town/village)");
  if (l.fiscal_year() < 2000 || l.fiscal_year() > 2100) {
    return Invalid("ledger_entry_posted.fiscal_year", "must be 2000..2100");
  }
  if (l.month() < 1 || l.month() > 12) return Invalid("ledger_entry_posted.month", "must be 1..12");
  if (l.category() == grid::v1::LEDGER_CATEGORY_UNSPECIFIED) {
    return Invalid("ledger_entry_posted.category", "is required");
  }
  if (l.amount_fen() <= 0) {
    return Invalid("ledger_entry_posted.amount_fen",
                   "must be > 0 (a correction is a reversal of the entry, then a new entry)");
  }
  if (l.voucher_no().empty())
    return Invalid("ledger_entry_posted.voucher_no", "is required: every entry has a voucher");
  if (l.voucher_no().size() > 64) return Invalid("ledger_entry_posted.voucher_no", "is longer than 64 bytes");
  if (l.account_code().size() > 32)
    return Invalid("ledger_entry_posted.account_code", "is longer than 32 bytes");
  if (l.has_counterparty()) {
    if (auto s = CheckPerson("ledger_entry_posted.counterparty", l.counterparty()); !s.ok()) return s;
  }
  if (!l.reverses_entry_id().empty()) {
    if (auto s = RequireId("ledger_entry_posted.reverses_entry_id", l.reverses_entry_id()); !s.ok()) return s;
  }
  // An entry is booked in a period that has begun.
  return RequireTime("occurred_at", e.has_occurred_at());
}

std::pair<absl::string_view, std::string> Id(const Event& e) {
  if (!e.has_ledger_entry_posted()) return {"", ""};
  return {"ledger_entry_posted.village", e.ledger_entry_posted().village()};
}

std::optional<std::string> BodyOrgPath(const Event& e) {
  if (!e.has_ledger_entry_posted()) return std::nullopt;
  return e.ledger_entry_posted().village();
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  const auto& st = StateOf<LedgerState>(state);
  const auto& l = e.ledger_entry_posted();
  auto org = OrgOf(l.village(), others);
  if (!org.ok()) return org.status();
  if (state.events == 0 && !(*org)->Holds(l.village())) {
    return Refused(absl::StrCat("village ", l.village(), " has no grids and no name in the org data"));
  }
  if (auto recoded = (*org)->RecodedAt(l.village())) {
    return Refused(absl::StrCat("org unit ", recoded->first, " was recoded to ", recoded->second,
                                "; the village's books go on under its new code"));
  }
  if (st.entries.contains(l.entry_id())) {
    return Refused(absl::StrCat("entry ", l.entry_id(), " is already in the ledger of ", l.village(),
                                "; a correction is a reversal, then a new entry"));
  }
  const absl::CivilMonth posted(absl::ToCivilMonth(FromProtoTime(e.occurred_at()), ChinaTime()));
  const absl::CivilMonth booked(l.fiscal_year(), l.month());
  if (booked > posted) {
    return Refused(absl::StrCat("period ", l.fiscal_year(), "-", l.month(),
                                " has not begun (the entry is posted in ", posted.year(), "-", posted.month(),
                                ")"));
  }
  if (l.reverses_entry_id().empty()) return absl::OkStatus();
  auto it = st.entries.find(l.reverses_entry_id());
  if (it == st.entries.end()) {
    return Refused(absl::StrCat("entry ", l.reverses_entry_id(), " is not in the ledger of ", l.village()));
  }
  if (it->second.reversal) return Refused(absl::StrCat("entry ", it->first, " is itself a reversal"));
  if (it->second.reversed) return Refused(absl::StrCat("entry ", it->first, " is already reversed"));
  if (booked < absl::CivilMonth(it->second.year, it->second.month)) {
    return Refused(absl::StrCat("entry ", it->first, " is booked in ", it->second.year, "-", it->second.month,
                                "; its reversal is booked in that period or a later one"));
  }
  if (it->second.category != l.category() || it->second.amount_fen != l.amount_fen()) {
    return Refused(absl::StrCat("a reversal takes back the whole of entry ", it->first, ": ",
                                grid::v1::LedgerCategory_Name(it->second.category), " ",
                                it->second.amount_fen, " fen"));
  }
  return absl::OkStatus();
}

void Fold(AggregateState* state, const Event& e) {
  if (!e.has_ledger_entry_posted()) return;
  auto& st = MutableState<LedgerState>(state);
  const auto& l = e.ledger_entry_posted();
  st.entries.Put(l.entry_id(), {l.category(), l.amount_fen(), !l.reverses_entry_id().empty(), false,
                                l.fiscal_year(), l.month()});
  if (!l.reverses_entry_id().empty()) st.entries[l.reverses_entry_id()].reversed = true;
}

}  // namespace

const AggregateRules& LedgerRules() {
  static const AggregateRules kRules{
      .name = "ledger",
      .types = {"LedgerEntryPosted"},
      .id_is_org_path = true,
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = BodyOrgPath,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = nullptr,
  };
  return kRules;
}

}  // namespace grid::domain
