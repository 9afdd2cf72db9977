//! PostgreSQL LSNs in their text form (`16/B374D848`).

/// Formats an LSN as PostgreSQL does.
pub fn format(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Parses `X/Y` (hex halves) or a plain decimal number.
pub fn parse(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.split_once('/') {
        Some((hi, lo)) => {
            let hi = u64::from_str_radix(hi, 16).ok()?;
            let lo = u64::from_str_radix(lo, 16).ok()?;
            (hi <= 0xFFFF_FFFF && lo <= 0xFFFF_FFFF).then_some((hi << 32) | lo)
        }
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        for lsn in [0u64, 1, 0x16_B374_D848, u64::MAX] {
            assert_eq!(super::parse(&super::format(lsn)), Some(lsn));
        }
        assert_eq!(super::parse("0/16B3748"), Some(0x16B3748));
        assert_eq!(super::parse("123"), Some(123));
        for bad in ["", "x/1", "1/", "/1", "1/2/3", "100000000/0", "-1"] {
            assert_eq!(super::parse(bad), None, "{bad}");
        }
    }
}
