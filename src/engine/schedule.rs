//! The look schedule of a platform trial after an amendment of its maximum sample size.

/// The look schedule after the maximum changes to `max`: looks below the new maximum are kept,
/// then looks continue at the last spacing, and the final look is at `max`.
/// [`extended_look_count`] says how many looks that is without building it.
pub fn extend_looks(looks: &[u32], max: u32) -> Vec<u32> {
    let mut kept: Vec<u32> = looks.iter().copied().filter(|&l| l < max).collect();
    let spacing = look_spacing(&kept, max);
    while let Some(&last) = kept.last() {
        if last + spacing >= max {
            break;
        }
        kept.push(last + spacing);
    }
    kept.push(max);
    kept
}

/// The spacing [`extend_looks`] continues at: the last gap, or the only look, or `max`.
fn look_spacing(kept: &[u32], max: u32) -> u32 {
    match kept {
        [.., a, b] => b - a,
        [a] => *a,
        [] => max,
    }
    .max(1)
}

/// The number of looks [`extend_looks`] gives, by arithmetic (nothing is built), so that an
/// amendment can be refused before a schedule too long is made.
pub fn extended_look_count(looks: &[u32], max: u32) -> u64 {
    let kept: Vec<u32> = looks.iter().copied().filter(|&l| l < max).collect();
    let spacing = look_spacing(&kept, max);
    let continued = kept
        .last()
        .map_or(0, |&last| u64::from((max - 1 - last) / spacing));
    kept.len() as u64 + continued + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_extended_schedule_continues_at_the_last_spacing() {
        assert_eq!(extend_looks(&[20, 40, 60], 100), vec![20, 40, 60, 80, 100]);
        assert_eq!(extend_looks(&[20, 40, 60], 50), vec![20, 40, 50]);
        assert_eq!(extend_looks(&[30], 100), vec![30, 60, 90, 100]);
        assert_eq!(extended_look_count(&[1], 1_000_000), 1_000_000);
    }

    proptest! {
        #[test]
        fn the_count_is_the_length_of_the_schedule(
            mut looks in proptest::collection::vec(1u32..5_000, 0..6),
            max in 1u32..20_000,
        ) {
            looks.sort_unstable();
            looks.dedup();
            prop_assert_eq!(
                extended_look_count(&looks, max),
                extend_looks(&looks, max).len() as u64
            );
        }
    }
}
