//! The tables of a borrowing fit, kept across its rows ([`TableCache`]): values on θ grids
//! θᵢ = cut + i·h whose spacings h are powers of two, the same in every row, so that a
//! stratum's likelihood is computed once per spacing and fit rather than once per row.
//!
//! Numbers in, numbers out.

/// θ points of one stratum in one row at most (a bound for hostile inputs; the likelihood's
/// support is narrower in every case a row can reach); a table spans at most twice as many.
pub(super) const MAX_POINTS: i64 = 1 << 16;

/// Two columns of values on the θ grid θᵢ = cut + i·h over the indices `lo .. lo + len`: a
/// stratum's likelihood and logit⁻¹ θ, or the grid's ln(1 + e^θ) and logit⁻¹ θ.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    /// (bits of cut, bits of h, bits of y, bits of n); y and n are NaN for a grid table.
    key: (u64, u64, u64, u64),
    pub(super) lo: i64,
    pub(super) columns: [Vec<f64>; 2],
}

impl Table {
    fn covers(&self, lo: i64, hi: i64) -> bool {
        self.lo <= lo && hi < self.lo + self.columns[0].len() as i64
    }
}

/// The tables of a fit, kept across its rows: the θ grids' spacings are powers of two, the
/// same in every row, so a stratum's likelihood is computed once per spacing and fit, not once
/// per row. At most [`CACHED_POINTS`] values are kept (a bound for hostile inputs); beyond, the
/// cache starts again.
#[derive(Debug, Clone, Default)]
pub(super) struct TableCache {
    pub(super) tables: Vec<Table>,
    used: usize,
    points: usize,
    /// Scratch for growing a table.
    spare: [Vec<f64>; 2],
}

/// Points the [`TableCache`] keeps at most.
const CACHED_POINTS: usize = 1 << 19;

impl TableCache {
    pub(super) fn clear(&mut self) {
        self.used = 0;
        self.points = 0;
    }

    /// Starts again when `points` more points would pass [`CACHED_POINTS`].
    pub(super) fn make_room(&mut self, points: usize) {
        if self.points + points > CACHED_POINTS {
            self.clear();
        }
    }

    /// The table of `key` covering indices `lo..=hi` (at most [`MAX_POINTS`] of them), grown
    /// where it did not (or, where growing would span more than twice that, replaced);
    /// `fill(tables, i)` gives the columns' values at index i.
    pub(super) fn get(
        &mut self,
        key: (u64, u64, u64, u64),
        lo: i64,
        hi: i64,
        mut fill: impl FnMut(&[Table], i64) -> [f64; 2],
    ) -> usize {
        let found = self.tables[..self.used].iter().position(|t| t.key == key);
        let index = match found {
            Some(index) if self.tables[index].covers(lo, hi) => return index,
            Some(index) => index,
            None => {
                if self.used == self.tables.len() {
                    self.tables.push(Table::default());
                }
                let table = &mut self.tables[self.used];
                table.key = key;
                table.lo = lo;
                table.columns.iter_mut().for_each(Vec::clear);
                self.used += 1;
                self.used - 1
            }
        };
        let table = &self.tables[index];
        let had = table.columns[0].len() as i64;
        let (old_lo, old_hi) = (table.lo, table.lo + had - 1);
        let (new_lo, new_hi) = (lo.min(old_lo), hi.max(old_hi));
        let keep = had > 0 && new_hi - new_lo < 2 * MAX_POINTS;
        let (new_lo, new_hi) = if keep { (new_lo, new_hi) } else { (lo, hi) };
        // The new values go to the spare columns first (`fill` reads the other tables), then
        // into the table's own columns, whose capacity only grows: a later fit needing no
        // longer tables allocates nothing.
        let (left, right) = if keep {
            (new_lo..old_lo, old_hi + 1..new_hi + 1)
        } else {
            (new_lo..new_hi + 1, 0..0)
        };
        let before = self.tables[index].columns[0].len();
        for (range, at_start) in [(left, true), (right, false)] {
            let spare = &mut self.spare;
            spare.iter_mut().for_each(Vec::clear);
            let tables = &self.tables[..];
            for i in range {
                for (column, value) in spare.iter_mut().zip(fill(tables, i)) {
                    column.push(value);
                }
            }
            let table = &mut self.tables[index];
            for (column, new) in table.columns.iter_mut().zip(spare.iter()) {
                if !keep && at_start {
                    column.clear();
                    column.extend_from_slice(new);
                } else if at_start {
                    column.splice(0..0, new.iter().copied());
                } else {
                    column.extend_from_slice(new);
                }
            }
        }
        let table = &mut self.tables[index];
        let kept = if keep { before } else { 0 };
        self.points += table.columns[0].len().saturating_sub(kept);
        table.lo = new_lo;
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table grows on both sides keeping the values it had, is found again by its key, and
    /// is replaced when growing would span too far; clearing forgets every table.
    #[test]
    fn tables_grow_and_are_found_again() {
        let mut cache = TableCache::default();
        let calls = std::cell::Cell::new(0);
        let mut fill = |_: &[Table], i: i64| {
            calls.set(calls.get() + 1);
            [i as f64, -(i as f64)]
        };
        let key = (1, 2, 3, 4);
        let a = cache.get(key, 0, 9, &mut fill);
        let b = cache.get(key, -5, 12, &mut fill);
        assert_eq!(a, b);
        let table = &cache.tables[a];
        assert_eq!(table.lo, -5);
        let expected: Vec<f64> = (-5..=12).map(|i| i as f64).collect();
        assert_eq!(table.columns[0], expected);
        assert_eq!(table.columns[1][0], 5.0);
        // 10 values, then the 5 on the left and the 3 on the right.
        assert_eq!(calls.get(), 18);
        let c = cache.get((9, 9, 9, 9), 0, 3, &mut fill);
        assert_ne!(a, c);
        assert_eq!(cache.get(key, 0, 12, &mut fill), a);
        assert_eq!(calls.get(), 22);
        let far = 3 * MAX_POINTS;
        let d = cache.get(key, far, far + 1, &mut fill);
        assert_eq!(d, a);
        assert_eq!(cache.tables[d].lo, far);
        assert_eq!(cache.tables[d].columns[0].len(), 2);
        cache.clear();
        let e = cache.get(key, 0, 0, &mut fill);
        assert_eq!((e, cache.tables[e].columns[0].len()), (0, 1));
    }

    /// The same requests after [`TableCache::clear`] (the next fit) reuse the buffers: no
    /// table's capacity changes.
    #[test]
    fn a_second_fit_reuses_the_buffers() {
        let mut cache = TableCache::default();
        let fill = |_: &[Table], i: i64| [i as f64, 0.0];
        let requests = [
            (1, 0, 9),
            (2, -3, 3),
            (1, -5, 12),
            (2, -3, 40),
            (1, -30, 12),
        ];
        let mut capacities = Vec::new();
        for round in 0..2 {
            cache.clear();
            for &(key, lo, hi) in &requests {
                cache.get((key, 0, 0, 0), lo, hi, fill);
            }
            let now: Vec<[usize; 2]> = cache
                .tables
                .iter()
                .map(|t| [t.columns[0].capacity(), t.columns[1].capacity()])
                .collect();
            if round == 1 {
                assert_eq!(now, capacities);
            }
            capacities = now;
        }
        assert_eq!(cache.tables[0].lo, -30);
        assert_eq!(cache.tables[0].columns[0].len(), 43);
    }
}
