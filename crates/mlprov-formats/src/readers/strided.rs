//! Strided element layouts (PyTorch views, Fortran-ordered NumPy arrays) and their
//! gathering into canonical row-major, little-endian bytes.

/// Row-major (C-order) strides, in elements, for `shape`; `None` on overflow.
pub(crate) fn row_major_strides(shape: &[usize]) -> Option<Vec<usize>> {
    let mut strides = vec![0usize; shape.len()];
    let mut acc = 1usize;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.checked_mul(d)?;
    }
    Some(strides)
}

/// Column-major (Fortran-order) strides, in elements, for `shape`; `None` on overflow.
pub(crate) fn column_major_strides(shape: &[usize]) -> Option<Vec<usize>> {
    let mut strides = vec![0usize; shape.len()];
    let mut acc = 1usize;
    for (s, &d) in strides.iter_mut().zip(shape) {
        *s = acc;
        acc = acc.checked_mul(d)?;
    }
    Some(strides)
}

/// Whether `strides` lay `shape` out row-major and dense (dimensions of size 1 may
/// carry any stride, as in `torch.Tensor.is_contiguous`).
pub(crate) fn is_row_major(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = match expected.checked_mul(d) {
            Some(e) => e,
            None => return false,
        };
    }
    true
}

/// The largest element index addressed by `offset`, `shape` and `strides`, or `None`
/// for an empty tensor or on overflow (checked by the caller as "too large").
pub(crate) fn max_index(offset: usize, shape: &[usize], strides: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return None;
    }
    shape.iter().zip(strides).try_fold(offset, |acc, (&d, &s)| {
        acc.checked_add((d - 1).checked_mul(s)?)
    })
}

/// Copies the elements of a strided view of `src` (elements of `esize` bytes starting
/// at element `offset`) into row-major order, byte-swapping each element if `swap`.
///
/// The caller has checked that [`max_index`] lies inside `src` and that the output
/// size is acceptable; an element outside `src` would still only be skipped.
pub(crate) fn gather(
    src: &[u8],
    esize: usize,
    offset: usize,
    shape: &[usize],
    strides: &[usize],
    swap: bool,
) -> Vec<u8> {
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(numel.saturating_mul(esize));
    if numel == 0 {
        return out;
    }
    let rank = shape.len();
    let mut idx = vec![0usize; rank];
    let mut pos = offset;
    // The innermost dimension is copied in one loop per row.
    let (inner, inner_stride) = match (shape.last(), strides.last()) {
        (Some(&d), Some(&s)) => (d, s),
        _ => (1, 0),
    };
    let outer = rank.saturating_sub(1);
    loop {
        let mut p = pos;
        for _ in 0..inner {
            let start = p.saturating_mul(esize);
            if let Some(e) = src.get(start..start.saturating_add(esize)) {
                if swap {
                    out.extend(e.iter().rev());
                } else {
                    out.extend_from_slice(e);
                }
            }
            p = p.saturating_add(inner_stride);
        }
        // Advance the odometer over the outer dimensions.
        let mut k = outer;
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            idx[k] += 1;
            pos = pos.saturating_add(strides[k]);
            if idx[k] < shape[k] {
                break;
            }
            pos = pos.saturating_sub(strides[k].saturating_mul(shape[k]));
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_contiguity() {
        assert_eq!(row_major_strides(&[2, 3, 4]), Some(vec![12, 4, 1]));
        assert_eq!(column_major_strides(&[2, 3, 4]), Some(vec![1, 2, 6]));
        assert!(is_row_major(&[2, 3], &[3, 1]));
        assert!(is_row_major(&[1, 3], &[99, 1]));
        assert!(!is_row_major(&[3, 2], &[1, 3]));
        assert!(is_row_major(&[], &[]));
        assert_eq!(max_index(2, &[3, 2], &[1, 3]), Some(2 + 2 + 3));
        assert_eq!(max_index(0, &[0, 5], &[5, 1]), None);
        assert_eq!(max_index(0, &[usize::MAX, 2], &[2, 1]), None);
    }

    #[test]
    fn gathers_a_transpose() {
        // src is a 2x3 row-major matrix 0..6; its transpose is 3x2 with strides (1, 3).
        let src: Vec<u8> = (0..6u8).collect();
        assert_eq!(
            gather(&src, 1, 0, &[3, 2], &[1, 3], false),
            vec![0, 3, 1, 4, 2, 5]
        );
        // A column slice with an offset.
        assert_eq!(gather(&src, 1, 1, &[2], &[3], false), vec![1, 4]);
        // A scalar.
        assert_eq!(gather(&src, 1, 5, &[], &[], false), vec![5]);
        // Byte swapping of 2-byte elements.
        assert_eq!(
            gather(&[1, 2, 3, 4], 2, 0, &[2], &[1], true),
            vec![2, 1, 4, 3]
        );
    }
}
