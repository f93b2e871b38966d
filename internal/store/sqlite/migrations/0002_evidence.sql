-- The evidence behind each event (DESIGN.md "Evidence"): confirmed, the
-- number of fixes inside so far, and whether the pass was interpolated
-- between two fixes.
--
-- Rows written before this migration predate the evidence rule: nobody
-- judged whether two fixes (or one inside by more than its accuracy) proved
-- them. They get confirmed = 0, fixes = 0, interpolated = 0, the values that
-- claim no evidence rather than invent it ("an invented breach hurts the
-- police"). Such a row stays recognisable: an event of the evidence era
-- that is not interpolated always has at least one fix inside, so
-- fixes = 0 AND interpolated = 0 marks a legacy row. Readers that count
-- breaches only from confirmed events (the weekly report) leave legacy
-- breaches out and say so.
-- ADD COLUMN with a constant default does not rewrite the table.
ALTER TABLE events ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN fixes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN interpolated INTEGER NOT NULL DEFAULT 0;
