//! The weekly practice schedule (`/practice_schedule?fields=get_all`: `sunday_start_1 …
//! saturday_end_3`, `*_holiday`, `date` = first day of the week) → the [`OpenBlock`]s of one day.

use jiff::civil::{Date, Time, Weekday};

use super::wire::{self, ScheduleItem};
use crate::pms::{OpenBlock, ProviderId};

const DAYS: [(Weekday, &str); 7] = [
    (Weekday::Sunday, "sunday"),
    (Weekday::Monday, "monday"),
    (Weekday::Tuesday, "tuesday"),
    (Weekday::Wednesday, "wednesday"),
    (Weekday::Thursday, "thursday"),
    (Weekday::Friday, "friday"),
    (Weekday::Saturday, "saturday"),
];

/// The up-to-three open blocks of one schedule row on `weekday` (none on a holiday).
pub fn day_blocks(
    row: &ScheduleItem,
    weekday: Weekday,
) -> Vec<(jiff::civil::Time, jiff::civil::Time)> {
    let day = DAYS.iter().find(|(w, _)| *w == weekday).map_or("", |d| d.1);
    if row
        .day_field(&format!("{day}_holiday"))
        .and_then(wire::parse_flag)
        == Some(true)
    {
        return Vec::new();
    }
    (1..=3)
        .filter_map(|n| {
            let start = wire::parse_time(row.day_field(&format!("{day}_start_{n}"))?)?;
            let end = wire::parse_time(row.day_field(&format!("{day}_end_{n}"))?)?;
            (start < end).then_some((start, end))
        })
        .collect()
}

/// What a schedule row is for: the whole practice, one provider, or (ignored unless nothing
/// else is scheduled) one operatory.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Practice,
    Provider(ProviderId),
    Operatory,
}

fn resource(row: &ScheduleItem) -> Resource {
    let kind = row
        .resource_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    match row.resource_id.clone() {
        Some(id) if kind.contains("provider") => Resource::Provider(ProviderId::new(id)),
        _ if kind.contains("operator") => Resource::Operatory,
        _ => Resource::Practice,
    }
}

/// Open blocks on `date` from the weekly schedule rows. Each resource uses its row for the week
/// holding `date` (`date` field = first day of the week), else its latest earlier row, else a
/// row without a date. Operatory rows count as practice hours only when there is nothing else.
///
/// When providers have rows of their own, a provider works only their row's hours, within the
/// practice's (a practice holiday closes everyone), and a provider without a row does not work.
/// When no provider has a row, the practice's hours are everyone's (blocks without a provider).
pub fn open_blocks(rows: &[ScheduleItem], date: Date) -> Vec<OpenBlock> {
    let week_of = |row: &ScheduleItem| row.date.as_deref().and_then(wire::parse_date);
    let usable = |row: &&ScheduleItem| week_of(row).is_none_or(|start| start <= date);
    let mut chosen: Vec<(Resource, &ScheduleItem)> = Vec::new();
    for row in rows.iter().filter(usable) {
        let res = resource(row);
        match chosen
            .iter_mut()
            .find(|(r, _)| *r == res && res != Resource::Operatory)
        {
            Some((_, current)) if week_of(row) > week_of(current) => *current = row,
            Some(_) => {}
            None => chosen.push((res, row)),
        }
    }
    if chosen.iter().any(|(r, _)| *r != Resource::Operatory) {
        chosen.retain(|(r, _)| *r != Resource::Operatory);
    }
    let weekday = date.weekday();
    let practice: Option<Vec<(Time, Time)>> = chosen
        .iter()
        .filter(|(r, _)| !matches!(r, Resource::Provider(_)))
        .map(|(_, row)| day_blocks(row, weekday))
        .reduce(|mut all, more| {
            all.extend(more);
            all
        });
    let own: Vec<(&ProviderId, Vec<(Time, Time)>)> = chosen
        .iter()
        .filter_map(|(r, row)| match r {
            Resource::Provider(id) => Some((id, day_blocks(row, weekday))),
            _ => None,
        })
        .collect();
    let mut blocks: Vec<OpenBlock> = Vec::new();
    let mut add = |provider_id: Option<ProviderId>, (start, end): (Time, Time)| {
        let block = OpenBlock {
            provider_id,
            start,
            end,
        };
        if !blocks.contains(&block) {
            blocks.push(block);
        }
    };
    if own.is_empty() {
        for span in practice.unwrap_or_default() {
            add(None, span);
        }
    } else {
        for (id, spans) in own {
            for span in within(&spans, practice.as_deref()) {
                add(Some(id.clone()), span);
            }
        }
    }
    blocks.sort_by(|a, b| (&a.provider_id, a.start).cmp(&(&b.provider_id, b.start)));
    blocks
}

/// The parts of `spans` inside `limits` (all of them when there are no limits).
fn within(spans: &[(Time, Time)], limits: Option<&[(Time, Time)]>) -> Vec<(Time, Time)> {
    let Some(limits) = limits else {
        return spans.to_vec();
    };
    spans
        .iter()
        .flat_map(|&(start, end)| {
            limits
                .iter()
                .map(move |&(from, to)| (start.max(from), end.min(to)))
        })
        .filter(|(start, end)| start < end)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn row(kind: &str, id: &str, week: &str, fields: &[(&str, &str)]) -> ScheduleItem {
        let mut v = serde_json::json!({"resource_type": kind, "resource_id": id, "date": week});
        for (k, val) in fields {
            v[*k] = serde_json::json!(val);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn schedule_rows_become_blocks_for_the_right_week_and_resource() {
        let rows = vec![
            row(
                "Practice",
                "1",
                "2024-06-02T00:00:00",
                &[
                    ("monday_start_1", "08:00"),
                    ("monday_end_1", "12:00"),
                    ("monday_start_2", "13:00"),
                    ("monday_end_2", "17:00"),
                    ("tuesday_holiday", "True"),
                    ("tuesday_start_1", "08:00"),
                    ("tuesday_end_1", "17:00"),
                ],
            ),
            row(
                "Practice",
                "1",
                "2024-05-26T00:00:00",
                &[("monday_start_1", "07:00"), ("monday_end_1", "09:00")],
            ),
            row(
                "Provider",
                "DDS1",
                "2024-06-02",
                &[("monday_start_1", "9:00 AM"), ("monday_end_1", "3:00 PM")],
            ),
            row(
                "Practice",
                "1",
                "2024-06-09",
                &[("monday_start_1", "10:00"), ("monday_end_1", "11:00")],
            ),
        ];
        let monday = date(2024, 6, 3);
        let blocks = open_blocks(&rows, monday);
        let block = |who: &str, from: i8, to: i8| OpenBlock {
            provider_id: Some(ProviderId::new(who)),
            start: time(from, 0, 0, 0),
            end: time(to, 0, 0, 0),
        };
        // DDS1 works its own row's hours (09:00–15:00) within the practice's (lunch 12–13).
        assert_eq!(blocks, vec![block("DDS1", 9, 12), block("DDS1", 13, 15)]);
        assert!(
            open_blocks(&rows, date(2024, 6, 4)).is_empty(),
            "the practice's holiday"
        );
        assert!(
            open_blocks(&rows, date(2024, 6, 2)).is_empty(),
            "sunday: nothing set"
        );
        // Without provider rows, the practice's hours are everyone's.
        let practice_only: Vec<_> = rows
            .iter()
            .filter(|r| r.resource_type.as_deref() == Some("Practice"))
            .cloned()
            .collect();
        let everyone = open_blocks(&practice_only, monday);
        assert_eq!(everyone.len(), 2);
        assert!(everyone.iter().all(|b| b.provider_id.is_none()));
    }

    #[test]
    fn operatory_rows_count_only_when_nothing_else_is_scheduled() {
        let op = row(
            "Operatory",
            "OP1",
            "",
            &[("friday_start_1", "08:00"), ("friday_end_1", "12:00")],
        );
        let friday = date(2024, 6, 7);
        assert_eq!(open_blocks(std::slice::from_ref(&op), friday).len(), 1);
        let practice = row(
            "Practice",
            "1",
            "",
            &[("friday_start_1", "09:00"), ("friday_end_1", "10:00")],
        );
        let blocks = open_blocks(&[op, practice], friday);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].start, time(9, 0, 0, 0));
    }

    #[test]
    fn providers_work_their_own_days_and_a_provider_without_a_row_does_not_work() {
        let practice = row(
            "Practice",
            "1",
            "2024-06-02",
            &[
                ("monday_start_1", "08:00"),
                ("monday_end_1", "17:00"),
                ("tuesday_start_1", "08:00"),
                ("tuesday_end_1", "17:00"),
            ],
        );
        let dentist = row(
            "Provider",
            "DDS1",
            "2024-06-02",
            &[("monday_start_1", "08:00"), ("monday_end_1", "12:00")],
        );
        let hygienist = row(
            "Provider",
            "HYG1",
            "2024-06-02",
            &[("tuesday_start_1", "07:00"), ("tuesday_end_1", "18:00")],
        );
        let rows = [practice, dentist, hygienist];
        let who = |d| {
            open_blocks(&rows, d)
                .into_iter()
                .map(|b| (b.provider_id.unwrap().as_str().to_owned(), b.start, b.end))
                .collect::<Vec<_>>()
        };
        // Monday: the dentist only (DDS2 has no row: not working).
        assert_eq!(
            who(date(2024, 6, 3)),
            [("DDS1".to_owned(), time(8, 0, 0, 0), time(12, 0, 0, 0))]
        );
        // Tuesday: the hygienist only, within the practice's hours.
        assert_eq!(
            who(date(2024, 6, 4)),
            [("HYG1".to_owned(), time(8, 0, 0, 0), time(17, 0, 0, 0))]
        );
    }
}
