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
//! * Daylight-saving time (verified against America/New_York):
//!   - spring-forward gap: when the hour field is restricted, a fire time inside
//!     the skipped hour `h` is moved one hour later (e.g. `30 2 * * *` fires at
//!     03:30 on that day) unless hour `h+1` is itself in the hour field;
//!   - fall-back overlap: with an hour field of exactly 24 elements every wall
//!     time fires in both occurrences; otherwise only in the first occurrence,
//!     unless the search starts inside the repeated hour.
//!
//! # Known divergences
//! * cron-parser gives up after 10 000 internal iteration steps (roughly 27
//!   years of day-by-day stepping), so for very sparse schedules such as
//!   `0 0 * 2 1#5` (Feb 29 that is a Monday) node-schedule may return no
//!   invocation while [`CronSchedule::next_after`] finds it.
//! * node-schedule's iterator keeps DST state between consecutive invocations;
//!   this module is stateless (`next_after(t)` == the first invocation of a job
//!   created at `t`). The results differ only for the repeated sub-hourly fires
//!   inside a spring-forward gap (node-schedule fires `*/15 2 * * *` at 03:00,
//!   03:15, 03:30, 03:45 on that day; chaining `next_after` gives 03:00 only).
//! * DST transitions that are not one hour long at an hour boundary (e.g.
//!   Lord Howe's 30-minute shift, or transitions at midnight) follow the same
//!   rules but have not been verified against node-schedule.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike,
};

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
        '\t' | '\n'
            | '\u{b}'
            | '\u{c}'
            | '\r'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
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
    s.bytes()
        .fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')))
}

fn parse_value(field: Field, tok: &str) -> Result<u32, CronError> {
    if all_digits(tok) {
        let v = digits_value(tok);
        if v < u64::from(field.min()) || v > u64::from(field.max()) {
            let shown = tok.trim_start_matches('0');
            return Err(CronError::OutOfRange {
                field: field.name(),
                value: if shown.is_empty() { "0".into() } else { shown.into() },
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
    if field == Field::DayOfWeek && hi % 7 == 0 {
        acc.push(field, 0);
        local |= 1;
    }
    let mut repeat = step;
    for i in lo..=hi {
        let exists = local & (1u64 << i) != 0;
        if !exists && repeat % step == 0 {
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
    let wildcard_ok = base == "*"
        || (base == "?" && matches!(field, Field::DayOfMonth | Field::DayOfWeek));
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
        if left.contains([',', '-', '/']) {
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
        let atoms: Vec<&str> = expanded.split(is_js_space).filter(|a| !a.is_empty()).collect();
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
            dom_count =
                dom.values.iter().filter(|&&d| d <= max_day).count() as u32 + dom.l_count;
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
        (1..=12u32).filter(|m| self.months & (1 << m) != 0).any(|m| {
            let lengths: &[u32] = if m == 2 { &[28, 29] } else { &[days_in_month(2001, m)] };
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
                        return Some(date.and_hms_opt(h2, m2, s2)?);
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
        // wall time and the hour field is a full wildcard, the *second*
        // occurrence of an earlier wall time can be the answer.
        let mut best: Option<DateTime<Tz>> = None;
        if let LocalResult::Ambiguous(early, late) = tz.from_local_datetime(&from_wall) {
            if after.offset().fix() == early.offset().fix()
                && early.offset().fix() != late.offset().fix()
            {
                // start of the repeated wall-clock window
                let mut lb = from_wall.with_second(0)?;
                for _ in 0..240 {
                    let prev = lb - Duration::minutes(1);
                    if !matches!(tz.from_local_datetime(&prev), LocalResult::Ambiguous(..)) {
                        break;
                    }
                    lb = prev;
                }
                // cron-parser skips the repeated hour only when the hour field
                // is restricted and the clock falls back onto a full hour.
                if self.hours_wild || lb.minute() != 0 {
                    if let Some(w) = self.next_wall(lb, limit) {
                        if w <= from_wall {
                            if let LocalResult::Ambiguous(_, l) = tz.from_local_datetime(&w) {
                                if l > *after {
                                    best = Some(l);
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
            let Some(w) = self.next_wall(start, limit) else {
                return best;
            };
            match tz.from_local_datetime(&w) {
                LocalResult::Single(t) => {
                    if t > *after {
                        return Some(pick(t, best));
                    }
                }
                LocalResult::Ambiguous(early, late) => {
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
                LocalResult::None => {
                    // Spring-forward gap. cron-parser substitutes the skipped
                    // hour h by h+1 when the hour field is restricted and h+1 is
                    // not in it; otherwise the gap times are simply skipped.
                    let h = w.hour();
                    if !self.hours_wild
                        && (1..23).contains(&h)
                        && !self.hour_set(h + 1)
                        && whole_hour_gap(&tz, w)
                    {
                        if let Some(t) = shift_over_gap(&tz, w) {
                            if t > *after {
                                return Some(pick(t, best));
                            }
                        }
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

/// Whether the gap containing `w` is exactly the wall-clock hour of `w` (the
/// only shape for which cron-parser's "hour jumped by 2" substitution applies).
fn whole_hour_gap<Tz: TimeZone>(tz: &Tz, w: NaiveDateTime) -> bool {
    let Some(hour_start) = w.with_minute(0).and_then(|t| t.with_second(0)) else {
        return false;
    };
    let exists = |t: Option<NaiveDateTime>| {
        t.is_some_and(|t| !matches!(tz.from_local_datetime(&t), LocalResult::None))
    };
    let second = Duration::seconds(1);
    !exists(Some(hour_start))
        && !exists(hour_start.checked_add_signed(Duration::seconds(3599)))
        && exists(hour_start.checked_sub_signed(second))
        && exists(hour_start.checked_add_signed(Duration::hours(1)))
}

/// Instant of a non-existent wall time `w`, read with the UTC offset in force
/// just before the gap (so 02:30 in a 02:00→03:00 gap becomes 03:30).
fn shift_over_gap<Tz: TimeZone>(tz: &Tz, w: NaiveDateTime) -> Option<DateTime<Tz>> {
    for back in 1..=3 {
        let probe = w.checked_sub_signed(Duration::hours(back))?;
        if let Some(t) = tz.from_local_datetime(&probe).latest() {
            let offset = t.offset().fix();
            let utc = w.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))?;
            return Some(tz.from_utc_datetime(&utc));
        }
    }
    None
}
