//! Fast UTC timestamp formatting (`YYYY-MM-DDTHH:MM:SSZ`), the hot path of page generation.

use serde::{Serialize, Serializer};

/// Unix seconds serialised as an RFC 3339 UTC string with second precision, as Zendesk writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub i64);

impl Ts {
    /// Writes the timestamp into a 20-byte buffer and returns it as a string slice.
    pub fn write(self, buf: &mut [u8; 20]) -> &str {
        let secs = self.0.clamp(0, 253_402_300_799); // 0000-01-01 .. 9999-12-31T23:59:59Z
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let fields = [
            (y / 100, 0),
            (y % 100, 2),
            (m, 5),
            (d, 8),
            (rem / 3600, 11),
            (rem / 60 % 60, 14),
            (rem % 60, 17),
        ];
        buf.copy_from_slice(b"0000-00-00T00:00:00Z");
        for (value, at) in fields {
            buf[at] = b'0' + (value / 10) as u8;
            buf[at + 1] = b'0' + (value % 10) as u8;
        }
        std::str::from_utf8(buf).unwrap_or("1970-01-01T00:00:00Z")
    }

    /// The formatted timestamp as an owned string.
    pub fn to_rfc3339(self) -> String {
        let mut buf = [0u8; 20];
        self.write(&mut buf).to_owned()
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 20];
        serializer.serialize_str(self.write(&mut buf))
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (or any RFC 3339 string) into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono() {
        for secs in [0i64, 951_782_400, 1_304_591_932, 1_748_736_000, 1_709_164_799, 4_102_444_800] {
            let chrono = chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ");
            assert_eq!(Ts(secs).to_rfc3339(), chrono.to_string());
        }
        assert_eq!(parse_rfc3339("2011-05-05T10:38:52Z"), Some(1_304_591_932));
    }
}
