//! The AGE column as kubectl prints it (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`).

/// `0s`, `3s`, `12s`, `4m15s`, `4m`, `2h5m`, `3d4h`…, from a duration in seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an object created at `created`, seen at `now` (whole seconds, as kubectl rounds).
pub fn age(created: jiff::Timestamp, now: jiff::Timestamp) -> String {
    human_duration(now.as_second() - created.as_second())
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_read_like_the_guides_table() {
        let cases = [
            (0, "0s"),
            (3, "3s"),
            (12, "12s"),
            (30, "30s"),
            (119, "119s"),
            (240, "4m"),
            (255, "4m15s"),
            (285, "4m45s"),
            (600, "10m"),
            (3 * 3600 + 300, "3h5m"),
            (2 * 86400, "2d"),
            (-1, "0s"),
            (-5, "<invalid>"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds} s");
        }
    }
}
