//! Cron expressions with node-schedule–compatible "next fire time".
//!
//! `sdk.scheduleReminder({ cronTime })` historically went through the npm
//! `node-schedule` package, which hands cron strings to `cron-parser` 4.x
//! (`parseExpression(expr, { currentDate, tz })` + `next()`). This module parses
//! the same syntax into bitsets and computes the same next invocation by
//! field-wise advancing (no second-by-second stepping).
//!
//! # Syntax
//! * 5 fields `minute hour day-of-month month day-of-week` (second = 0) or
//!   6 fields `second minute hour day-of-month month day-of-week`, separated by
//!   whitespace (JavaScript `\s`).
//! * `*`, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n`, `a/n` (= `a-max/n`).
//! * Month names `jan`..`dec` and weekday names `sun`..`sat` (3 letters,
//!   case-insensitive) wherever a number is accepted in those fields.
//! * Day-of-week `0` and `7` are both Sunday.
//! * `?` in day-of-month / day-of-week (same as `*`).
//! * `L` in day-of-month (last day of the month, may appear in a list).
//! * `<weekday>L` in day-of-week (last such weekday of the month, e.g. `5L`, `friL`).
//! * `<weekday>#<n>` as the whole day-of-week field (n-th such weekday, n = 1..5).
//! * `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly` (exact string only).
//!
//! Rejected with a [`CronError`] (even where cron-parser tolerates them): fewer
//! than 5 or more than 6 fields (cron-parser right-aligns 1–4 fields and treats
//! an empty string as "every minute"), malformed tokens such as `1-5-9`, `5-`,
//! `5*`, `*-5`, `L/2`, `5L` in day-of-month, `L` alone in day-of-week, `*#2`,
//! `5L#2`, out-of-range values, zero or non-numeric steps, reversed ranges,
//! unknown names, `W`, and expressions that can never fire (e.g. `0 0 30 2 *`,
//! `0 0 31 2,4 *`, for which node-schedule's `scheduleJob` returns `null`).
//!
//! # cron-parser quirks reproduced on purpose
//! * Day-of-month and day-of-week are OR-ed only when *both* are "restricted",
//!   where restricted is judged by cron-parser's element counts: day-of-week is
//!   unrestricted iff its list has exactly 8 elements (`*`, `?`, `0-7`, `1-7`);
//!   day-of-month is unrestricted in a month iff its list has at least as many
//!   elements as that month's length (February counted as 29). So
//!   `0 0 1-31 * 1` fires on Mondays only, and `0 0 * * 0-6` combined with a
//!   restricted day-of-month fires every day.
//! * A day-of-week range ending in 7 (or 0) also contains Sunday (`2-7/2` is
//!   Tue, Thu, Sat and Sun).
//! * `#n` is an extra filter "day is in the n-th week of the month" applied after
//!   the day-of-month/day-of-week test.
//! * Daylight-saving time:
//!   - spring-forward gap of a whole hour `h` (not midnight): when the hour
//!     field is restricted (not exactly 24 elements), a fire time inside the
//!     skipped hour is moved one hour later (`30 2 * * *` fires at 03:30 EDT on
//!     that day) unless hour `h+1` is itself in the hour field; otherwise, and
//!     for gaps at midnight, skipped wall times simply don't fire;
//!   - fall-back overlap: with an hour field of exactly 24 elements a wall time
//!     fires in both occurrences; otherwise only in the first, unless the
//!     search starts inside the repeated interval, or the clock falls back onto
//!     a time that is not a full hour (e.g. 02:00 → 01:30).
//!
//! Differential checks against node-schedule (TZ set for the node process)
//! matched in America/New_York, Europe/London, Europe/Berlin,
//! Australia/Sydney, America/Sao_Paulo, America/Santiago, America/Havana,
//! Africa/Cairo, America/St_Johns, Asia/Tehran, Asia/Kolkata and UTC, for
//! start instants swept minute by minute across the DST transitions.
//!
//! # Known divergences from node-schedule
//! * Expressions node-schedule accepts but [`CronSchedule::parse`] rejects: see
//!   above. node-schedule also treats a string that is not a cron expression
//!   but parses as a JavaScript `Date` as a one-off job; that is rejected too.
//! * cron-parser gives up after 10 000 internal iteration steps (roughly 27
//!   years of day-by-day stepping), so for very sparse schedules such as
//!   `0 0 * 2 1#5` (Feb 29 that is a Monday) node-schedule may return no
//!   invocation while [`CronSchedule::next_after`] finds it.
//! * node-schedule's iterator keeps DST state between consecutive invocations;
//!   this module is stateless (`next_after(t)` is the first invocation of a
//!   job created at `t`). They differ only for repeated sub-hourly fires in a
//!   spring-forward gap: node-schedule fires `*/15 2 * * *` at 03:00, 03:15,
//!   03:30 and 03:45 EDT on that day, chaining `next_after` gives 03:00 and then
//!   02:00 the next day.
//! * Australia/Lord_Howe's 30-minute spring-forward (02:00 → 02:30): cron-parser
//!   steps from 01:xx straight to 03:00 and never fires at 02:30–02:59; this
//!   module does. (Its fall-back matches.)
//!
//! Wall times are mapped to instants with UTC→local offset lookups only,
//! because `chrono::Local::from_local_datetime` misorders ambiguous results
//! and misplaces transition boundaries.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};

/// How far past `after` [`CronSchedule::next_after`] searches, in years. The
/// Gregorian calendar repeats every 400 years and [`CronSchedule::parse`]
/// rejects expressions that match no calendar day, so within this bound a
/// fire time is always found (except near chrono's maximum year).
pub const SEARCH_YEARS: i32 = 401;

/// Error returned by [`CronSchedule::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("empty cron expression")]
    Empty,
    #[error("cron expression must have 5 or 6 fields, got {0}")]
    FieldCount(usize),
    #[error("{field} value {value} is out of range {min}-{max}")]
    OutOfRange {
        field: &'static str,
        value: String,
        min: u32,
        max: u32,
    },
    #[error("invalid step '{step}' in field '{field}'")]
    InvalidStep { field: &'static str, step: String },
    #[error("invalid range '{range}' in field '{field}'")]
    InvalidRange { field: &'static str, range: String },
    #[error("unknown name '{name}' in field '{field}'")]
    UnknownName { field: &'static str, name: String },
    #[error("invalid value '{value}' in field '{field}'")]
    InvalidValue { field: &'static str, value: String },
    #[error("empty list element in field '{field}': '{text}'")]
    EmptyListElement { field: &'static str, text: String },
    #[error("unsupported '{token}' in field '{field}': {reason}")]
    Unsupported {
        field: &'static str,
        token: String,
        reason: &'static str,
    },
    #[error("day-of-month {day} never occurs in month {month}")]
    DayNotInMonth { day: u32, month: u32 },
    #[error("cron expression '{0}' never matches any date")]
    NeverFires(String),
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    seconds: u64,
    minutes: u64,
    /// bits 0..=23
    hours: u32,
    /// bits 1..=31
    dom: u32,
    /// `L` in day-of-month
    dom_last: bool,
    /// bits 1..=12
    months: u16,
    /// bits 0..=6 (0 = Sunday)
    dow: u8,
    /// weekdays with an `<d>L` entry (last such weekday of the month)
    dow_last: u8,
    /// `#n` filter, 0 = none
    nth: u8,
    /// cron-parser's element count of the day-of-month list
    dom_count: u32,
    /// cron-parser's "day-of-week is a wildcard" (list has 8 elements)
    dow_wild: bool,
    /// cron-parser's "hour is a wildcard" (list has 24 elements)
    hours_wild: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }
    fn min(self) -> u32 {
        match self {
            Field::DayOfMonth | Field::Month => 1,
            _ => 0,
        }
    }
    fn max(self) -> u32 {
        match self {
            Field::Second | Field::Minute => 59,
            Field::Hour => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
        }
    }
}

/// cron-parser's month lengths (February always 29), used for its
/// "day-of-month is a wildcard" test and the explicit-day check.
const CP_DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `WEEK_PATTERN[k]`: bits of the days `d` (1..=31) with `(d - 1) % 7 == k`.
const WEEK_PATTERN: [u32; 7] = {
    let mut out = [0u32; 7];
    let mut d = 1;
    while d <= 31 {
        out[(d - 1) % 7] |= 1 << d;
        d += 1;
    }
    out
};

/// Whitespace as matched by JavaScript's `\s` (cron-parser splits on `/\s+/`).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Values collected for one field, with cron-parser's element count.
#[derive(Default)]
struct Acc {
    bits: u64,
    /// every numeric element cron-parser would put in its list (duplicates kept)
    values: Vec<u32>,
    /// number of `L`-style string elements
    l_count: u32,
    dom_last: bool,
    dow_last: u8,
}

impl Acc {
    fn count(&self) -> u32 {
        self.values.len() as u32 + self.l_count
    }
    fn push(&mut self, field: Field, v: u32) {
        self.values.push(v);
        let bit = if field == Field::DayOfWeek { v % 7 } else { v };
        self.bits |= 1u64 << bit;
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Digits to number, saturating (callers range-check).
fn digits_value(s: &str) -> u64 {
    s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

fn parse_value(field: Field, tok: &str) -> Result<u32, CronError> {
    if all_digits(tok) {
        let v = digits_value(tok);
        if v < u64::from(field.min()) || v > u64::from(field.max()) {
            let shown = tok.trim_start_matches('0');
            return Err(CronError::OutOfRange {
                field: field.name(),
                value: if shown.is_empty() {
                    "0".into()
                } else {
                    shown.into()
                },
                min: field.min(),
                max: field.max(),
            });
        }
        return Ok(v as u32);
    }
    let names: &[&str] = match field {
        Field::Month => &MONTH_NAMES,
        Field::DayOfWeek => &DOW_NAMES,
        _ => &[],
    };
    if !names.is_empty() && tok.len() == 3 && tok.bytes().all(|b| b.is_ascii_alphabetic()) {
        let lower = tok.to_ascii_lowercase();
        return match names.iter().position(|n| *n == lower) {
            Some(i) if field == Field::Month => Ok(i as u32 + 1),
            Some(i) => Ok(i as u32),
            None => Err(CronError::UnknownName {
                field: field.name(),
                name: tok.into(),
            }),
        };
    }
    Err(CronError::InvalidValue {
        field: field.name(),
        value: tok.into(),
    })
}

fn parse_step(field: Field, s: &str) -> Result<u64, CronError> {
    if !all_digits(s) || digits_value(s) == 0 {
        return Err(CronError::InvalidStep {
            field: field.name(),
            step: s.into(),
        });
    }
    Ok(digits_value(s))
}

/// cron-parser's `parseRange` with a repeat interval, reproduced exactly
/// (including the extra Sunday for day-of-week ranges ending in 0 or 7).
fn push_range(field: Field, acc: &mut Acc, lo: u32, hi: u32, step: u64) {
    let mut local: u64 = 0;
    if field == Field::DayOfWeek && hi.is_multiple_of(7) {
        acc.push(field, 0);
        local |= 1;
    }
    let mut repeat = step;
    for i in lo..=hi {
        let exists = local & (1u64 << i) != 0;
        if !exists && repeat.is_multiple_of(step) {
            repeat = 1;
            acc.push(field, i);
            local |= 1u64 << i;
        } else {
            repeat = repeat.saturating_add(1);
        }
    }
}

fn parse_item(field: Field, item: &str, acc: &mut Acc) -> Result<(), CronError> {
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => {
            if s.contains('/') {
                return Err(CronError::InvalidStep {
                    field: field.name(),
                    step: s.into(),
                });
            }
            if b.is_empty() {
                return Err(CronError::InvalidValue {
                    field: field.name(),
                    value: item.into(),
                });
            }
            (b, Some(parse_step(field, s)?))
        }
        None => (item, None),
    };
    let wildcard_ok =
        base == "*" || (base == "?" && matches!(field, Field::DayOfMonth | Field::DayOfWeek));
    if wildcard_ok {
        push_range(field, acc, field.min(), field.max(), step.unwrap_or(1));
        return Ok(());
    }
    if base == "?" {
        return Err(CronError::Unsupported {
            field: field.name(),
            token: item.into(),
            reason: "'?' is only allowed in day-of-month and day-of-week",
        });
    }
    if base.contains('L') {
        return parse_last(field, item, base, step.is_some(), acc);
    }
    if let Some((a, b)) = base.split_once('-') {
        if a.is_empty() || b.is_empty() || b.contains('-') {
            return Err(CronError::InvalidRange {
                field: field.name(),
                range: base.into(),
            });
        }
        let lo = parse_value(field, a)?;
        let hi = parse_value(field, b)?;
        if lo > hi {
            return Err(CronError::InvalidRange {
                field: field.name(),
                range: base.into(),
            });
        }
        push_range(field, acc, lo, hi, step.unwrap_or(1));
        return Ok(());
    }
    let v = parse_value(field, base)?;
    match step {
        Some(step) => push_range(field, acc, v, field.max(), step),
        None => {
            // cron-parser maps a scalar 7 in day-of-week to 0.
            let v = if field == Field::DayOfWeek { v % 7 } else { v };
            acc.push(field, v);
        }
    }
    Ok(())
}

fn parse_last(
    field: Field,
    item: &str,
    base: &str,
    has_step: bool,
    acc: &mut Acc,
) -> Result<(), CronError> {
    let unsupported = |reason| CronError::Unsupported {
        field: field.name(),
        token: item.into(),
        reason,
    };
    match field {
        Field::DayOfMonth => {
            if base != "L" {
                return Err(unsupported(
                    "only a plain 'L' (last day of the month) is supported",
                ));
            }
            if has_step {
                return Err(unsupported("'L' cannot have a step"));
            }
            acc.dom_last = true;
            acc.l_count += 1;
            Ok(())
        }
        Field::DayOfWeek => {
            let prefix = base.strip_suffix('L').unwrap_or("");
            let single = (prefix.len() == 1 && all_digits(prefix))
                || (prefix.len() == 3 && prefix.bytes().all(|b| b.is_ascii_alphabetic()));
            if prefix.contains('L') || !single {
                return Err(unsupported(
                    "'L' in day-of-week must follow a single weekday, e.g. '5L' for the last Friday",
                ));
            }
            if has_step {
                return Err(unsupported("'L' cannot have a step"));
            }
            let wd = parse_value(field, prefix)? % 7;
            acc.dow_last |= 1 << wd;
            acc.l_count += 1;
            Ok(())
        }
        _ => Err(CronError::InvalidValue {
            field: field.name(),
            value: item.into(),
        }),
    }
}

/// Parses one field; returns the accumulator and, for day-of-week, the `#n`.
fn parse_field(field: Field, text: &str) -> Result<(Acc, u8), CronError> {
    let mut acc = Acc::default();
    let mut nth = 0u8;
    let mut body = text;
    if field == Field::DayOfWeek && text.contains('#') {
        let unsupported = |reason| CronError::Unsupported {
            field: field.name(),
            token: text.into(),
            reason,
        };
        let mut parts = text.split('#');
        let (left, right) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if parts.next().is_some() {
            return Err(unsupported("only one '#' is allowed"));
        }
        if text.contains([',', '-', '/']) {
            return Err(unsupported(
                "'#' cannot be combined with lists, ranges or steps",
            ));
        }
        if left.is_empty() || left.contains(['*', '?', 'L']) {
            return Err(unsupported("'#' must follow a single weekday, e.g. '1#2'"));
        }
        if !all_digits(right) || !(1..=5).contains(&digits_value(right)) {
            return Err(unsupported("the occurrence after '#' must be 1-5"));
        }
        nth = digits_value(right) as u8;
        body = left;
    } else if text.contains('#') {
        return Err(CronError::Unsupported {
            field: field.name(),
            token: text.into(),
            reason: "'#' is only allowed in day-of-week",
        });
    }
    if body.contains('*') && body.contains('?') {
        return Err(CronError::Unsupported {
            field: field.name(),
            token: text.into(),
            reason: "'*' and '?' cannot be mixed",
        });
    }
    for item in body.split(',') {
        if item.is_empty() {
            return Err(CronError::EmptyListElement {
                field: field.name(),
                text: text.into(),
            });
        }
        parse_item(field, item, &mut acc)?;
    }
    Ok((acc, nth))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// First set bit of `bits` at or above `from` (bits above `max` ignored).
fn next_bit(bits: u64, from: u32, max: u32) -> Option<u32> {
    if from > max {
        return None;
    }
    let masked = bits & (u64::MAX << from) & (u64::MAX >> (63 - max));
    (masked != 0).then(|| masked.trailing_zeros())
}

impl std::str::FromStr for CronSchedule {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

impl CronSchedule {
    /// Parses a 5- or 6-field cron expression (see the module docs).
    pub fn parse(expr: &str) -> Result<CronSchedule, CronError> {
        let expanded = match expr {
            "@yearly" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let atoms: Vec<&str> = expanded
            .split(is_js_space)
            .filter(|a| !a.is_empty())
            .collect();
        let (sec, rest) = match atoms.len() {
            0 => return Err(CronError::Empty),
            5 => ("0", &atoms[..]),
            6 => (atoms[0], &atoms[1..]),
            n => return Err(CronError::FieldCount(n)),
        };
        let (seconds, _) = parse_field(Field::Second, sec)?;
        let (minutes, _) = parse_field(Field::Minute, rest[0])?;
        let (hours, _) = parse_field(Field::Hour, rest[1])?;
        let (dom, _) = parse_field(Field::DayOfMonth, rest[2])?;
        let (months, _) = parse_field(Field::Month, rest[3])?;
        let (dow, nth) = parse_field(Field::DayOfWeek, rest[4])?;

        // cron-parser's _handleMaxDaysInMonth: with a single month value, the
        // smallest numeric day must exist in that month, and days past the
        // month's end are dropped from the list (which changes its count).
        let mut dom_count = dom.count();
        if months.count() == 1 {
            let month = months.values[0];
            let max_day = CP_DAYS_IN_MONTH[month as usize - 1];
            if let Some(&first) = dom.values.iter().min() {
                if first > max_day {
                    return Err(CronError::DayNotInMonth { day: first, month });
                }
            }
            dom_count = dom.values.iter().filter(|&&d| d <= max_day).count() as u32 + dom.l_count;
        }

        let schedule = CronSchedule {
            seconds: seconds.bits,
            minutes: minutes.bits,
            hours: hours.bits as u32,
            dom: dom.bits as u32,
            dom_last: dom.dom_last,
            months: months.bits as u16,
            dow: dow.bits as u8,
            dow_last: dow.dow_last,
            nth,
            dom_count,
            dow_wild: dow.count() == 8,
            hours_wild: hours.count() == 24,
        };
        if !schedule.can_ever_fire() {
            return Err(CronError::NeverFires(expr.to_string()));
        }
        Ok(schedule)
    }

    /// Whether some month in the month field has a matching day for some
    /// leap-ness and weekday of the 1st (all combinations occur every 400 years).
    fn can_ever_fire(&self) -> bool {
        (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| {
                let lengths: &[u32] = if m == 2 {
                    &[28, 29]
                } else {
                    &[days_in_month(2001, m)]
                };
                lengths
                    .iter()
                    .any(|&dim| (0..7).any(|wd1| self.day_mask(m, dim, wd1) != 0))
            })
    }

    /// Bits (1..=dim) of the days that pass cron-parser's day test in a month
    /// with `dim` days whose 1st is weekday `wd1` (0 = Sunday).
    fn day_mask(&self, month: u32, dim: u32, wd1: u32) -> u32 {
        let valid = (((1u64 << (dim + 1)) - 1) & !1) as u32;
        let mut dom_m = self.dom & valid;
        if self.dom_last {
            dom_m |= 1 << dim;
        }
        let mut dow_m = 0u32;
        let wd_last = (wd1 + dim - 1) % 7;
        for w in 0..7u32 {
            if self.dow & (1 << w) != 0 {
                dow_m |= WEEK_PATTERN[((w + 7 - wd1) % 7) as usize];
            }
            if self.dow_last & (1 << w) != 0 {
                dow_m |= 1 << (dim - (wd_last + 7 - w) % 7);
            }
        }
        dow_m &= valid;
        let dom_wild = self.dom_count >= CP_DAYS_IN_MONTH[month as usize - 1];
        let mut pass = if self.dow_wild {
            dom_m
        } else if dom_wild {
            dow_m
        } else {
            dom_m | dow_m
        };
        if self.nth > 0 {
            pass &= 0x7f << (7 * (u32::from(self.nth) - 1) + 1);
        }
        pass
    }

    fn hour_set(&self, h: u32) -> bool {
        h < 24 && self.hours & (1 << h) != 0
    }

    /// First matching (h, m, s) in a day at or after the given time of day.
    fn next_time_of_day(&self, mut h: u32, mut m: u32, mut s: u32) -> Option<(u32, u32, u32)> {
        let first_m = next_bit(self.minutes, 0, 59)?;
        let first_s = next_bit(self.seconds, 0, 59)?;
        loop {
            let h2 = next_bit(u64::from(self.hours), h, 23)?;
            if h2 != h {
                return Some((h2, first_m, first_s));
            }
            if let Some(m2) = next_bit(self.minutes, m, 59) {
                if m2 != m {
                    return Some((h, m2, first_s));
                }
                if let Some(s2) = next_bit(self.seconds, s, 59) {
                    return Some((h, m, s2));
                }
                if let Some(m3) = next_bit(self.minutes, m + 1, 59) {
                    return Some((h, m3, first_s));
                }
            }
            h += 1;
            m = 0;
            s = 0;
        }
    }

    /// First wall-clock date-time at or after `start` whose fields match, or
    /// `None` past `limit`.
    fn next_wall(&self, start: NaiveDateTime, limit: NaiveDate) -> Option<NaiveDateTime> {
        let mut date = start.date();
        let (mut h, mut mi, mut s) = (start.hour(), start.minute(), start.second());
        loop {
            if date > limit {
                return None;
            }
            let (year, month) = (date.year(), date.month());
            if self.months & (1 << month) != 0 {
                let dim = days_in_month(year, month);
                let wd1 = NaiveDate::from_ymd_opt(year, month, 1)?
                    .weekday()
                    .num_days_from_sunday();
                let mask = self.day_mask(month, dim, wd1) & (u32::MAX << date.day());
                if mask != 0 {
                    let day = mask.trailing_zeros();
                    if day != date.day() {
                        date = NaiveDate::from_ymd_opt(year, month, day)?;
                        (h, mi, s) = (0, 0, 0);
                    }
                    if let Some((h2, m2, s2)) = self.next_time_of_day(h, mi, s) {
                        return date.and_hms_opt(h2, m2, s2);
                    }
                    // nothing left today: continue with the next day
                    date = date.succ_opt()?;
                    (h, mi, s) = (0, 0, 0);
                    continue;
                }
            }
            // jump to the 1st of the next month in the month field
            let (mut y, mut m) = (year, month);
            loop {
                if m == 12 {
                    y = y.checked_add(1)?;
                    m = 1;
                } else {
                    m += 1;
                }
                if self.months & (1 << m) != 0 {
                    break;
                }
            }
            date = NaiveDate::from_ymd_opt(y, m, 1)?;
            (h, mi, s) = (0, 0, 0);
        }
    }

    /// First fire instant strictly after `after`, evaluated in `after`'s time
    /// zone. Fire instants are whole seconds; a fire time equal to `after` (or
    /// earlier in the same second) is not returned. Searches at most
    /// [`SEARCH_YEARS`] years ahead; `None` if nothing is found in that window
    /// (only possible near chrono's maximum date for a schedule that parsed).
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let from_wall = after.naive_local().with_nanosecond(0)?;
        let limit = from_wall
            .year()
            .checked_add(SEARCH_YEARS)
            .and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31))
            .unwrap_or(NaiveDate::MAX);
        let one_sec = Duration::seconds(1);

        // If `after` lies in the first occurrence of a repeated (fall-back)
        // wall time, the *second* occurrence of an earlier wall time can be
        // the answer.
        let mut best: Option<DateTime<Tz>> = None;
        if let Wall::Ambiguous(early, _) = resolve(&tz, from_wall) {
            if after.offset().fix() == early.offset().fix() {
                // start of the repeated wall-clock window
                let mut lb = from_wall.with_second(0)?;
                for _ in 0..240 {
                    let prev = lb.checked_sub_signed(Duration::minutes(1))?;
                    if !matches!(resolve(&tz, prev), Wall::Ambiguous(..)) {
                        break;
                    }
                    lb = prev;
                }
                // cron-parser skips the repeated hour only when the hour field
                // is restricted and the clock falls back onto a full hour.
                if self.hours_wild || lb.minute() != 0 {
                    if let Some(w) = self.next_wall(lb, limit) {
                        if w <= from_wall {
                            if let Wall::Ambiguous(_, late) = resolve(&tz, w) {
                                if late > *after {
                                    best = Some(late);
                                }
                            }
                        }
                    }
                }
            }
        }
        let pick = |t: DateTime<Tz>, best: Option<DateTime<Tz>>| match best {
            Some(b) if b < t => b,
            _ => t,
        };

        let mut start = from_wall.checked_add_signed(one_sec)?;
        loop {
            let w = self.next_wall(start, limit);
            let Some(w) = w else {
                return best;
            };
            match resolve(&tz, w) {
                Wall::Single(t) => {
                    if t > *after {
                        return Some(pick(t, best));
                    }
                }
                Wall::Ambiguous(early, late) => {
                    // The first occurrence always fires. The second is only
                    // reached here when `after` is already past the first one,
                    // i.e. inside the repeated hour, where cron-parser fires too.
                    if early > *after {
                        return Some(pick(early, best));
                    }
                    if late > *after {
                        return Some(pick(late, best));
                    }
                }
                Wall::Gap(shifted) => {
                    // Spring-forward gap. cron-parser substitutes the skipped
                    // hour h by h+1 when the hour field is restricted and h+1 is
                    // not in it; otherwise the gap times are simply skipped.
                    let h = w.hour();
                    if !self.hours_wild
                        && (1..23).contains(&h)
                        && !self.hour_set(h + 1)
                        && whole_hour_gap(&tz, w)
                        && shifted > *after
                    {
                        return Some(pick(shifted, best));
                    }
                    start = w.with_second(0)?.checked_add_signed(Duration::minutes(1))?;
                    continue;
                }
            }
            start = w.checked_add_signed(one_sec)?;
        }
    }

    /// Convenience: next fire time strictly after `after_ms` (epoch
    /// milliseconds) in the process's local time zone (`chrono::Local`, which
    /// honours `TZ`), as epoch milliseconds.
    pub fn next_after_epoch_ms_local(&self, after_ms: i64) -> Option<i64> {
        let after = chrono::Local.timestamp_millis_opt(after_ms).single()?;
        self.next_after(&after).map(|t| t.timestamp_millis())
    }
}

/// How a wall-clock time maps to instants in a zone.
enum Wall<Tz: TimeZone> {
    Single(DateTime<Tz>),
    /// Repeated wall time (clocks fell back): (first, second) occurrence.
    Ambiguous(DateTime<Tz>, DateTime<Tz>),
    /// Skipped wall time (clocks sprang forward), read with the offset in
    /// force before the gap (02:30 in a 02:00→03:00 gap gives 03:30).
    Gap(DateTime<Tz>),
}

/// Maps wall time `w` to instants using only UTC→local offset lookups
/// (`chrono::Local::from_local_datetime` misorders ambiguous results and is
/// off by one at transition boundaries). Assumes at most one offset change
/// within ±15 hours of `w`, which holds for every zone in use.
fn resolve<Tz: TimeZone>(tz: &Tz, w: NaiveDateTime) -> Wall<Tz> {
    let offset_at = |t: NaiveDateTime| tz.offset_from_utc_datetime(&t).fix().local_minus_utc();
    let window = Duration::hours(15);
    let before = w.checked_sub_signed(window).map(offset_at);
    let after = w.checked_add_signed(window).map(offset_at);
    let (before, after) = match (before, after) {
        (Some(b), Some(a)) => (b, a),
        (Some(o), None) | (None, Some(o)) => (o, o),
        (None, None) => (offset_at(w), offset_at(w)),
    };
    let instance = |offset: i32| {
        let t = w.checked_sub_signed(Duration::seconds(i64::from(offset)))?;
        (offset_at(t) == offset).then(|| tz.from_utc_datetime(&t))
    };
    let first = instance(before);
    let second = if after == before {
        None
    } else {
        instance(after)
    };
    match (first, second) {
        (Some(a), Some(b)) if a < b => Wall::Ambiguous(a, b),
        (Some(a), Some(b)) => Wall::Ambiguous(b, a),
        (Some(t), None) | (None, Some(t)) => Wall::Single(t),
        (None, None) => {
            let utc = w
                .checked_sub_signed(Duration::seconds(i64::from(before)))
                .unwrap_or(w);
            Wall::Gap(tz.from_utc_datetime(&utc))
        }
    }
}

/// Whether the gap containing `w` is exactly the wall-clock hour of `w` (the
/// only shape for which cron-parser's "hour jumped by 2" substitution applies).
fn whole_hour_gap<Tz: TimeZone>(tz: &Tz, w: NaiveDateTime) -> bool {
    let Some(hour_start) = w.with_minute(0).and_then(|t| t.with_second(0)) else {
        return false;
    };
    let exists =
        |t: Option<NaiveDateTime>| t.is_some_and(|t| !matches!(resolve(tz, t), Wall::Gap(_)));
    !exists(Some(hour_start))
        && !exists(hour_start.checked_add_signed(Duration::seconds(3599)))
        && exists(hour_start.checked_sub_signed(Duration::seconds(1)))
        && exists(hour_start.checked_add_signed(Duration::hours(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    const CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cron_corpus.json"
    );

    fn parse(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr).unwrap_or_else(|e| panic!("'{expr}' should parse: {e}"))
    }

    fn err(expr: &str) -> CronError {
        match CronSchedule::parse(expr) {
            Ok(s) => panic!("'{expr}' should be rejected, parsed as {s:?}"),
            Err(e) => e,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// `n` consecutive fire times after `from` (RFC 3339, UTC).
    fn next_n_utc(expr: &str, from: &str, n: usize) -> Vec<String> {
        let s = parse(expr);
        let mut t = utc(from);
        (0..n)
            .map(|_| {
                t = s.next_after(&t).expect("next fire time");
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .collect()
    }

    fn next_tz<Tz: TimeZone>(expr: &str, after: DateTime<Tz>) -> String {
        parse(expr)
            .next_after(&after)
            .expect("next fire time")
            .to_rfc3339()
    }

    #[test]
    fn parses_basic_fields_into_bitsets() {
        let s = parse("*/15 0,12 1-3 jan-mar mon-fri");
        assert_eq!(s.seconds, 1);
        assert_eq!(s.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(s.hours, (1 << 0) | (1 << 12));
        assert_eq!(s.dom, 0b1110);
        assert_eq!(s.months, 0b1110);
        assert_eq!(s.dow, 0b011_1110);
        assert!(!s.hours_wild && !s.dow_wild);

        let s = parse("5/20 * * * * *");
        assert_eq!(s.seconds, (1 << 5) | (1 << 25) | (1 << 45));
        assert_eq!(s.minutes, (1u64 << 60) - 1);
        assert!(s.hours_wild && s.dow_wild);
        assert_eq!(s.dom_count, 31);

        let s = parse("0 0 10-20/4 */5 *");
        assert_eq!(s.dom, (1 << 10) | (1 << 14) | (1 << 18));
        assert_eq!(s.months, (1 << 1) | (1 << 6) | (1 << 11));
    }

    #[test]
    fn weekday_zero_and_seven_are_sunday() {
        for expr in [
            "0 0 * * 0",
            "0 0 * * 7",
            "0 0 * * sun",
            "0 0 * * SUN",
            "0 0 * * Sun",
        ] {
            assert_eq!(parse(expr).dow, 1, "{expr}");
        }
        // cron-parser adds Sunday to any day-of-week range ending in 7.
        assert_eq!(parse("0 0 * * 5-7").dow, 0b110_0001);
        assert_eq!(parse("0 0 * * 2-7/2").dow, 0b101_0101);
        assert_eq!(parse("0 0 * * 1/2").dow, 0b010_1011);
        assert!(parse("0 0 * * 1-7").dow_wild);
        assert!(parse("0 0 * * 0-7").dow_wild);
        assert!(!parse("0 0 * * 0-6").dow_wild);
        assert!(parse("0 0 * * ?").dow_wild);
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            parse("0 0 1 JAN,jul,Dec *").months,
            (1 << 1) | (1 << 7) | (1 << 12)
        );
        assert_eq!(parse("0 0 * feb-apr/2 *").months, (1 << 2) | (1 << 4));
        assert_eq!(
            parse("0 0 * * tue,THU,Sat").dow,
            (1 << 2) | (1 << 4) | (1 << 6)
        );
        assert_eq!(parse("0 0 * * friL").dow_last, 1 << 5);
        assert_eq!(parse("0 0 * * mon#2").nth, 2);
    }

    #[test]
    fn predefined_expressions() {
        assert_eq!(parse("@yearly"), parse("0 0 1 1 *"));
        assert_eq!(parse("@monthly"), parse("0 0 1 * *"));
        assert_eq!(parse("@weekly"), parse("0 0 * * 0"));
        assert_eq!(parse("@daily"), parse("0 0 * * *"));
        assert_eq!(parse("@hourly"), parse("0 * * * *"));
        assert_eq!(parse("0  0\t*\n*  *"), parse("@daily"));
        assert_eq!(
            " 0 0 * * * ".parse::<CronSchedule>().unwrap(),
            parse("@daily")
        );
    }

    #[test]
    fn error_messages() {
        let cases: &[(&str, &str)] = &[
            ("", "empty cron expression"),
            ("   ", "empty cron expression"),
            ("* * * *", "cron expression must have 5 or 6 fields, got 4"),
            (
                "1 2 3 4 5 6 7",
                "cron expression must have 5 or 6 fields, got 7",
            ),
            ("61 * * * *", "minute value 61 is out of range 0-59"),
            ("60 * * * * *", "second value 60 is out of range 0-59"),
            ("0 24 * * *", "hour value 24 is out of range 0-23"),
            ("0 0 0 * *", "day-of-month value 0 is out of range 1-31"),
            ("0 0 32 * *", "day-of-month value 32 is out of range 1-31"),
            ("0 0 * 13 *", "month value 13 is out of range 1-12"),
            ("0 0 * * 8", "day-of-week value 8 is out of range 0-7"),
            (
                "0 0 * * 99999999999999999999999",
                "day-of-week value 99999999999999999999999 is out of range 0-7",
            ),
            ("0 */0 * * *", "invalid step '0' in field 'hour'"),
            ("*/x * * * *", "invalid step 'x' in field 'minute'"),
            ("5/ * * * *", "invalid step '' in field 'minute'"),
            ("*/5/2 * * * *", "invalid step '5/2' in field 'minute'"),
            ("5-1 * * * *", "invalid range '5-1' in field 'minute'"),
            ("1-5-9 * * * *", "invalid range '1-5-9' in field 'minute'"),
            ("5- * * * *", "invalid range '5-' in field 'minute'"),
            ("-1 * * * *", "invalid range '-1' in field 'minute'"),
            (
                "0 0 * january *",
                "invalid value 'january' in field 'month'",
            ),
            ("0 0 * foo *", "unknown name 'foo' in field 'month'"),
            ("jan * * * *", "invalid value 'jan' in field 'minute'"),
            (
                "0 0 * * mon-foo",
                "unknown name 'foo' in field 'day-of-week'",
            ),
            (
                "1,,2 * * * *",
                "empty list element in field 'minute': '1,,2'",
            ),
            ("1.5 * * * *", "invalid value '1.5' in field 'minute'"),
            ("5* * * * *", "invalid value '5*' in field 'minute'"),
            (
                "@annually",
                "cron expression must have 5 or 6 fields, got 1",
            ),
            ("0 0 30 2 *", "day-of-month 30 never occurs in month 2"),
            (
                "0 0 31 2,4 *",
                "cron expression '0 0 31 2,4 *' never matches any date",
            ),
            (
                "0 0 * * 5L#2",
                "unsupported '5L#2' in field 'day-of-week': '#' must follow a single weekday, e.g. '1#2'",
            ),
            (
                "0 0 * * 1#6",
                "unsupported '1#6' in field 'day-of-week': the occurrence after '#' must be 1-5",
            ),
            (
                "0 0 * * 1#2,3",
                "unsupported '1#2,3' in field 'day-of-week': '#' cannot be combined with lists, ranges or steps",
            ),
            (
                "0 0 * * L",
                "unsupported 'L' in field 'day-of-week': 'L' in day-of-week must follow a single weekday, e.g. '5L' for the last Friday",
            ),
            (
                "0 0 5L * *",
                "unsupported '5L' in field 'day-of-month': only a plain 'L' (last day of the month) is supported",
            ),
            (
                "0 0 L/2 * *",
                "unsupported 'L/2' in field 'day-of-month': 'L' cannot have a step",
            ),
            (
                "? * * * *",
                "unsupported '?' in field 'minute': '?' is only allowed in day-of-month and day-of-week",
            ),
            (
                "0 0 *,? * *",
                "unsupported '*,?' in field 'day-of-month': '*' and '?' cannot be mixed",
            ),
            (
                "0 0 1# * *",
                "unsupported '1#' in field 'day-of-month': '#' is only allowed in day-of-week",
            ),
        ];
        for (expr, msg) in cases {
            assert_eq!(err(expr).to_string(), *msg, "{expr:?}");
        }
        assert_eq!(err("* * * *"), CronError::FieldCount(4));
    }

    #[test]
    fn rejects_more_garbage() {
        for expr in [
            "a b c d e",
            "0 0 * * monday",
            "@DAILY",
            " @daily",
            "0 0 ? ? *",
            "0 0 LW * *",
            "0 0 15W * *",
            "0 0 L-3 * *",
            "0 0 * * 1-8",
            "0 0 1 1 * 2030",
            "*-5 * * * *",
            "/5 * * * *",
            "0 0 * * *#2",
            "0 0 * * 1#0",
            "0 0 * * 15L",
            "0 0 * * 5l",
            "0 0 31 4 *",
            "0 0 * * 1-2#2",
            "+5 * * * *",
            "0 0 * * 5L/2",
            "0 0 * */jan *",
        ] {
            err(expr);
        }
    }

    #[test]
    fn strictly_after_with_second_granularity() {
        // exactly on a matching second: the next one
        assert_eq!(
            next_n_utc("30 9 * * *", "2024-06-15T09:30:00Z", 1),
            ["2024-06-16T09:30:00.000Z"]
        );
        // later in the matching second: still the next one
        assert_eq!(
            next_n_utc("30 9 * * *", "2024-06-15T09:30:00.001Z", 1),
            ["2024-06-16T09:30:00.000Z"]
        );
        // just before it
        assert_eq!(
            next_n_utc("30 9 * * *", "2024-06-15T09:29:59.999Z", 1),
            ["2024-06-15T09:30:00.000Z"]
        );
        assert_eq!(
            next_n_utc("* * * * * *", "2024-06-15T09:30:00.500Z", 3),
            [
                "2024-06-15T09:30:01.000Z",
                "2024-06-15T09:30:02.000Z",
                "2024-06-15T09:30:03.000Z"
            ]
        );
    }

    #[test]
    fn next_after_utc_sequences() {
        assert_eq!(
            next_n_utc("*/20 * * * *", "2024-12-31T23:30:00Z", 3),
            [
                "2024-12-31T23:40:00.000Z",
                "2025-01-01T00:00:00.000Z",
                "2025-01-01T00:20:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("0 9 * * 1-5", "2024-06-14T10:00:00Z", 3), // Friday
            [
                "2024-06-17T09:00:00.000Z",
                "2024-06-18T09:00:00.000Z",
                "2024-06-19T09:00:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("15,45 30 9 * * *", "2024-06-15T09:30:20Z", 3),
            [
                "2024-06-15T09:30:45.000Z",
                "2024-06-16T09:30:15.000Z",
                "2024-06-16T09:30:45.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("0 0 31 * *", "2024-01-31T00:00:00Z", 3),
            [
                "2024-03-31T00:00:00.000Z",
                "2024-05-31T00:00:00.000Z",
                "2024-07-31T00:00:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("0 12 L * *", "2024-01-31T12:00:00Z", 3),
            [
                "2024-02-29T12:00:00.000Z",
                "2024-03-31T12:00:00.000Z",
                "2024-04-30T12:00:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("59 59 23 31 12 *", "2024-06-01T00:00:00Z", 2),
            ["2024-12-31T23:59:59.000Z", "2025-12-31T23:59:59.000Z"]
        );
        // leap days, skipping 2100 (not a leap year)
        assert_eq!(
            next_n_utc("0 0 29 2 *", "2096-02-29T00:00:00Z", 2),
            ["2104-02-29T00:00:00.000Z", "2108-02-29T00:00:00.000Z"]
        );
        assert_eq!(
            next_n_utc("0 18 * * 5L", "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-26T18:00:00.000Z",
                "2024-02-23T18:00:00.000Z",
                "2024-03-29T18:00:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("0 10 * * fri#3", "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-19T10:00:00.000Z",
                "2024-02-16T10:00:00.000Z",
                "2024-03-15T10:00:00.000Z"
            ]
        );
        assert_eq!(
            next_n_utc("0 0 * * 0#5", "2024-01-01T00:00:00Z", 2),
            ["2024-03-31T00:00:00.000Z", "2024-06-30T00:00:00.000Z"]
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_follow_cron_parser() {
        // both restricted: OR
        assert_eq!(
            next_n_utc("0 0 1,15 * 5", "2024-01-01T00:00:00Z", 4),
            [
                "2024-01-05T00:00:00.000Z",
                "2024-01-12T00:00:00.000Z",
                "2024-01-15T00:00:00.000Z",
                "2024-01-19T00:00:00.000Z"
            ]
        );
        // 31 elements count as a wildcard: Mondays only
        assert_eq!(
            next_n_utc("0 0 1-31 * 1", "2024-01-01T00:00:00Z", 2),
            ["2024-01-08T00:00:00.000Z", "2024-01-15T00:00:00.000Z"]
        );
        // 30 elements are a wildcard in 30-day months only
        assert_eq!(
            next_n_utc("0 0 1-30 * 1", "2024-03-28T00:00:00Z", 4),
            [
                "2024-03-29T00:00:00.000Z",
                "2024-03-30T00:00:00.000Z",
                "2024-04-01T00:00:00.000Z",
                "2024-04-08T00:00:00.000Z"
            ]
        );
        // 0-6 is not a wildcard (7 elements): every day via OR
        assert_eq!(
            next_n_utc("0 0 1 * 0-6", "2024-01-01T00:00:00Z", 2),
            ["2024-01-02T00:00:00.000Z", "2024-01-03T00:00:00.000Z"]
        );
        // '#' filters whatever matched: the 15th if it's in week 3, or the 3rd Monday
        assert_eq!(
            next_n_utc("0 0 15 * 1#3", "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-15T00:00:00.000Z",
                "2024-02-15T00:00:00.000Z",
                "2024-02-19T00:00:00.000Z"
            ]
        );
        // '?' is '*'
        assert_eq!(parse("0 0 ? * 3"), parse("0 0 * * 3"));
    }

    #[test]
    fn next_after_in_fixed_offset_zone() {
        let ist = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let after = ist.with_ymd_and_hms(2024, 2, 28, 23, 59, 59).unwrap();
        assert_eq!(next_tz("0 9 * * *", after), "2024-02-29T09:00:00+05:30");
        assert_eq!(next_tz("0 0 1 * *", after), "2024-03-01T00:00:00+05:30");
        let t = parse("0 0 L * *").next_after(&after).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-02-29T00:00:00+05:30");
        assert_eq!(t.timestamp(), utc("2024-02-28T18:30:00Z").timestamp());
        let west = FixedOffset::west_opt(10 * 3600).unwrap();
        let after = west.with_ymd_and_hms(2024, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(next_tz("30 23 31 12 *", after), "2024-12-31T23:30:00-10:00");
        assert_eq!(next_tz("0 0 1 1 *", after), "2025-01-01T00:00:00-10:00");
    }

    #[test]
    fn dst_in_new_york() {
        use chrono_tz::America::New_York as NY;
        let at = |s: &str| utc(s).with_timezone(&NY);
        // spring forward 2024-03-10 02:00 EST -> 03:00 EDT: skipped times in a
        // restricted hour move one hour later unless that hour is listed too
        assert_eq!(
            next_tz("30 2 * * *", at("2024-03-10T06:00:00Z")),
            "2024-03-10T03:30:00-04:00"
        );
        assert_eq!(
            next_tz("*/15 2 * * *", at("2024-03-10T06:00:00Z")),
            "2024-03-10T03:00:00-04:00"
        );
        assert_eq!(
            next_tz("*/15 2 * * *", at("2024-03-10T07:00:00Z")),
            "2024-03-11T02:00:00-04:00"
        );
        assert_eq!(
            next_tz("30 2,3 * * *", at("2024-03-10T06:00:00Z")),
            "2024-03-10T03:30:00-04:00"
        );
        assert_eq!(
            next_tz("0 2,4 * * *", at("2024-03-10T06:00:00Z")),
            "2024-03-10T03:00:00-04:00"
        );
        assert_eq!(
            next_tz("30 * * * *", at("2024-03-10T06:45:00Z")),
            "2024-03-10T03:30:00-04:00"
        );
        // fall back 2024-11-03 02:00 EDT -> 01:00 EST: a restricted hour fires
        // in the first 01:xx only ...
        assert_eq!(
            next_tz("30 1 * * *", at("2024-11-03T05:00:00Z")),
            "2024-11-03T01:30:00-04:00"
        );
        assert_eq!(
            next_tz("30 1 * * *", at("2024-11-03T05:30:00Z")),
            "2024-11-04T01:30:00-05:00"
        );
        // ... unless the search starts in the repeated hour
        assert_eq!(
            next_tz("30 1 * * *", at("2024-11-03T06:10:00Z")),
            "2024-11-03T01:30:00-05:00"
        );
        // a full hour wildcard fires in both
        assert_eq!(
            next_tz("30,45 * * * *", at("2024-11-03T05:50:00Z")),
            "2024-11-03T01:30:00-05:00"
        );
        assert_eq!(
            next_tz("30,45 * * * *", at("2024-11-03T05:40:00Z")),
            "2024-11-03T01:45:00-04:00"
        );
        assert_eq!(
            next_tz("30,45 * * * *", at("2024-11-03T06:40:00Z")),
            "2024-11-03T01:45:00-05:00"
        );
        // "0-23,5" has 25 elements, which cron-parser treats as restricted
        assert_eq!(
            next_tz("30 0-23,5 * * *", at("2024-11-03T05:40:00Z")),
            "2024-11-03T02:30:00-05:00"
        );
    }

    #[test]
    fn parse_rejects_schedules_that_never_fire() {
        assert_eq!(
            err("0 0 30 2 *"),
            CronError::DayNotInMonth { day: 30, month: 2 }
        );
        assert_eq!(
            err("0 0 30,31 feb *"),
            CronError::DayNotInMonth { day: 30, month: 2 }
        );
        // cron-parser checks the smallest explicit day even when day-of-week
        // could still match
        assert_eq!(
            err("0 0 30 2 1"),
            CronError::DayNotInMonth { day: 30, month: 2 }
        );
        assert_eq!(
            err("0 0 31 4 *"),
            CronError::DayNotInMonth { day: 31, month: 4 }
        );
        for expr in ["0 0 31 2,4,6,9,11 *", "0 0 30 2,2 *", "0 0 31 */2 *#5"] {
            match err(expr) {
                CronError::NeverFires(e) if e == expr => {}
                // '*#5' is rejected as syntax first
                CronError::Unsupported { .. } if expr.contains("*#") => {}
                other => panic!("{expr}: {other}"),
            }
        }
        // these do fire
        for expr in [
            "0 0 29 2 *",
            "0 0 L 2 *",
            "0 0 * 2 1#5",
            "0 0 30,1 2 *",
            "0 0 31 2,3 *",
        ] {
            parse(expr);
        }
        // Feb 29 that is a Monday: found even decades away
        assert_eq!(
            next_n_utc("0 0 * 2 1#5", "2016-03-01T00:00:00Z", 1),
            ["2044-02-29T00:00:00.000Z"]
        );
    }

    #[test]
    fn search_is_bounded() {
        let s = parse("0 0 1 1 *");
        let end = NaiveDate::MAX.and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(s.next_after(&end), None);
        let near_end = NaiveDate::from_ymd_opt(NaiveDate::MAX.year() - 1, 6, 1).unwrap();
        let t = s
            .next_after(&near_end.and_hms_opt(0, 0, 0).unwrap().and_utc())
            .unwrap();
        assert_eq!(t.year(), NaiveDate::MAX.year());
    }

    #[test]
    fn epoch_ms_local_matches_next_after_local() {
        let s = parse("*/7 3 * * *");
        let from = 1_718_000_000_123;
        let expected = s
            .next_after(&chrono::Local.timestamp_millis_opt(from).unwrap())
            .map(|t| t.timestamp_millis());
        assert_eq!(s.next_after_epoch_ms_local(from), expected);
        assert!(expected.unwrap() > from);
    }

    fn load_corpus() -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(CORPUS).expect("read cron_corpus.json");
        serde_json::from_str(&text).expect("parse cron_corpus.json")
    }

    /// Replays every corpus entry (generated by make_cron_corpus.mjs from
    /// node-schedule) with chrono-tz zones.
    #[test]
    fn corpus_matches_node_schedule() {
        let corpus = load_corpus();
        let mut failures = Vec::new();
        let mut per_tz: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        let mut valid_exprs = std::collections::BTreeSet::new();
        let mut invalid = 0;
        for entry in &corpus {
            let expr = entry["expr"].as_str().expect("expr");
            if entry["error"].as_bool() == Some(true) {
                invalid += 1;
                if let Ok(s) = CronSchedule::parse(expr) {
                    failures.push(format!(
                        "'{expr}': node-schedule rejects it, parsed as {s:?}"
                    ));
                }
                continue;
            }
            valid_exprs.insert(expr.to_string());
            let tz_name = entry["tz"].as_str().expect("tz");
            let tz: chrono_tz::Tz = tz_name.parse().expect("known tz");
            let from = entry["from"].as_i64().expect("from");
            let want = entry["next"].as_i64().expect("next");
            let counts = per_tz.entry(tz_name.to_string()).or_default();
            counts.0 += 1;
            let got = CronSchedule::parse(expr)
                .map(|s| s.next_after(&tz.timestamp_millis_opt(from).unwrap()))
                .map(|t| t.map(|t| t.timestamp_millis()));
            if got == Ok(Some(want)) {
                counts.1 += 1;
            } else {
                failures.push(format!(
                    "'{expr}' tz={tz_name} from={from}: want {want}, got {got:?}"
                ));
            }
        }
        eprintln!(
            "cron corpus: {per_tz:?} (entries, matches); {} valid expressions, {invalid} invalid",
            valid_exprs.len()
        );
        assert!(valid_exprs.len() >= 50 && invalid >= 15 && per_tz.len() == 3);
        assert!(
            failures.is_empty(),
            "{} corpus entries differ from node-schedule:\n{}",
            failures.len(),
            failures
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Runs [`local_tz_child`] in child processes with `TZ` set, so that
    /// `next_after_epoch_ms_local` is checked against the corpus through
    /// `chrono::Local` and the system time zone database.
    #[test]
    fn epoch_ms_local_honours_tz() {
        let exe = std::env::current_exe().expect("test binary path");
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        let test = format!("{module}::local_tz_child");
        for tz in ["UTC", "Asia/Kolkata", "America/New_York"] {
            let out = std::process::Command::new(&exe)
                .args([
                    test.as_str(),
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("TZ", tz)
                .env("CRON_CORPUS_TZ", tz)
                .output()
                .expect("spawn test binary");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "TZ={tz}: child test failed\n{stdout}\n{stderr}"
            );
        }
    }

    #[test]
    #[ignore = "spawned by epoch_ms_local_honours_tz with TZ set"]
    fn local_tz_child() {
        let tz = std::env::var("CRON_CORPUS_TZ").expect("CRON_CORPUS_TZ");
        let (jan, jul) = match tz.as_str() {
            "UTC" => (0, 0),
            "Asia/Kolkata" => (19800, 19800),
            "America/New_York" => (-18000, -14400),
            other => panic!("unexpected zone {other}"),
        };
        let offset = |m| {
            let t = Utc.with_ymd_and_hms(2024, m, 1, 0, 0, 0).unwrap();
            t.with_timezone(&chrono::Local).offset().local_minus_utc()
        };
        assert_eq!(
            (offset(1), offset(7)),
            (jan, jul),
            "TZ={tz} not honoured by chrono::Local (is the system tz database installed?)"
        );
        let mut checked = 0;
        for entry in load_corpus() {
            if entry["tz"].as_str() != Some(tz.as_str()) {
                continue;
            }
            let expr = entry["expr"].as_str().unwrap();
            let from = entry["from"].as_i64().unwrap();
            let got = parse(expr).next_after_epoch_ms_local(from);
            assert_eq!(got, entry["next"].as_i64(), "'{expr}' TZ={tz} from={from}");
            checked += 1;
        }
        assert!(checked > 500, "only {checked} entries for {tz}");
    }
}
