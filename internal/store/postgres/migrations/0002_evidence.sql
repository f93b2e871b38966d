-- The evidence behind each event (DESIGN.md "Evidence"): confirmed, the
-- number of fixes inside so far, and whether the pass was interpolated
-- between two fixes.
--
-- Rows written before this migration predate the evidence rule: nobody
-- judged whether two fixes (or one inside by more than its accuracy) proved
-- them. They get confirmed = false, fixes = 0, interpolated = false, the
-- values that claim no evidence rather than invent it ("an invented breach
-- hurts the police"). Such a row stays recognisable: an event of the
-- evidence era that is not interpolated always has at least one fix
-- inside, so fixes = 0 AND NOT interpolated marks a legacy row. Readers
-- that count breaches only from confirmed events (the weekly report) leave
-- legacy breaches out and say so.
-- A constant default is stored in the catalogue: no table rewrite, so this
-- is instant on a year of events. The PostGIS geom column, where present,
-- is untouched (writes name their columns).
ALTER TABLE events
	ADD COLUMN confirmed boolean NOT NULL DEFAULT false,
	ADD COLUMN fixes integer NOT NULL DEFAULT 0,
	ADD COLUMN interpolated boolean NOT NULL DEFAULT false;
