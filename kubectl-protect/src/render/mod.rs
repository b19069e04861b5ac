//! Pure functions from data to text: tables, the detail view, the check report, watch lines
//! and progress-bar messages. No I/O here; `now` and colour are parameters so golden files
//! stay stable.

pub mod check;
pub mod detail;
pub mod list;
pub mod output;
pub mod progress;

#[cfg(test)]
mod golden_tests;

use console::Style;
use jiff::Timestamp;
use protect_api::Phase;
use tabled::builder::Builder;
use tabled::settings::{Padding, Style as TableStyle};

use crate::health::Health;

/// kubectl's age format (`HumanDuration`): 0s, 12s, 4m15s, 4m, 5h3m, 2d, 3y12d.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second() - since.as_second();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let seconds = seconds.max(0);
    human_duration(seconds)
}

/// A duration in kubectl's compact form (see [`age`]).
pub fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let with = |major: i64, unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{unit}")
        } else {
            format!("{major}{unit}{minor}{minor_unit}")
        }
    };
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        with(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        with(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        with(hours / 24, "d", hours % 24, "h")
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        with(hours / 24 / 365, "y", (hours / 24) % 365, "d")
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// Colours, applied only when `enabled`: on a terminal, and not under NO_COLOR. Colour always
/// repeats what the text says, never replaces it.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// Colours on or off.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// No colours (pipes, golden files).
    pub fn plain() -> Self {
        Self::new(false)
    }

    fn apply(self, style: Style, text: &str) -> String {
        style.force_styling(self.enabled).apply_to(text).to_string()
    }

    /// Green.
    pub fn good(self, text: &str) -> String {
        self.apply(Style::new().green(), text)
    }

    /// Yellow.
    pub fn warn(self, text: &str) -> String {
        self.apply(Style::new().yellow(), text)
    }

    /// Red.
    pub fn bad(self, text: &str) -> String {
        self.apply(Style::new().red().bold(), text)
    }

    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.apply(Style::new().bold(), text)
    }

    /// A phase in the colour of its health: "Protected", "Protected (degraded)", "Failed".
    pub fn phase(self, phase: Phase, health: &Health) -> String {
        match health {
            Health::Failed => self.bad(phase.as_str()),
            Health::Degraded(_) => self.warn(&format!("{phase} (degraded)")),
            Health::Protected => self.good(phase.as_str()),
            Health::InProgress => phase.as_str().to_owned(),
        }
    }
}

/// A borderless table as kubectl prints one: upper-case headers, columns three spaces apart,
/// no trailing spaces.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| h.to_string()));
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table
        .with(TableStyle::empty())
        .with(Padding::new(0, 3, 0, 0));
    let mut out: String = table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// Indent every line of `text` by `n` spaces (sections of the detail view).
pub fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `-` for an absent value, as kubectl's custom columns print `<none>` more verbosely.
pub fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (0, "0s"),
            (3, "3s"),
            (12, "12s"),
            (119, "119s"),
            (240, "4m"),
            (255, "4m15s"),
            (285, "4m45s"),
            (300, "5m"),
            (3600, "60m"),
            (3 * 3600 + 120, "3h2m"),
            (10 * 3600, "10h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 3600, "2d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 12 * 86400, "3y12d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn a_timestamp_slightly_in_the_future_is_0s_and_far_in_the_future_invalid() {
        let now: Timestamp = "2025-05-01T10:00:00Z".parse().unwrap();
        let later = now + jiff::SignedDuration::from_secs(1);
        assert_eq!(age(later, now), "0s");
        assert_eq!(
            age(now + jiff::SignedDuration::from_secs(10), now),
            "<invalid>"
        );
    }

    #[test]
    fn tables_are_borderless_and_three_spaces_apart() {
        let out = table(&["NAME", "PHASE"], [vec!["a".into(), "Syncing".into()]]);
        assert_eq!(out, "NAME   PHASE\na      Syncing\n");
    }

    #[test]
    fn plain_paint_adds_no_escape_codes_but_keeps_the_words() {
        let text = Paint::plain().phase(Phase::Protected, &Health::Degraded(vec![]));
        assert_eq!(text, "Protected (degraded)");
        let coloured = Paint::new(true).phase(Phase::Failed, &Health::Failed);
        assert!(coloured.contains("Failed") && coloured.contains('\u{1b}'));
    }
}
