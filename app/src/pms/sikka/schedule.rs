//! The weekly practice schedule (`/practice_schedule?fields=get_all`: `sunday_start_1 …
//! saturday_end_3`, `*_holiday`, `date` = first day of the week) → the [`OpenBlock`]s of one day.

use jiff::civil::{Date, Weekday};

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

/// Whether any row is one provider's own.
pub fn has_provider_rows(rows: &[ScheduleItem]) -> bool {
    rows.iter()
        .any(|r| matches!(resource(r), Resource::Provider(_)))
}

/// Open blocks on `date` from the weekly schedule rows. Each resource uses its row for the week
/// holding `date` (`date` field = first day of the week), else its latest earlier row, else a
/// row without a date. Operatory rows count as practice hours only when there is nothing else.
///
/// A provider with a row of their own works only its hours (none on a day it leaves empty),
/// never the practice's: the practice row's hours go to the `providers` that have no row. When
/// no provider has a row, the practice's hours are everyone's (blocks without a provider).
pub fn open_blocks(rows: &[ScheduleItem], date: Date, providers: &[ProviderId]) -> Vec<OpenBlock> {
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
    let own: Vec<&ProviderId> = chosen
        .iter()
        .filter_map(|(r, _)| match r {
            Resource::Provider(id) => Some(id),
            _ => None,
        })
        .collect();
    let without_row: Vec<Option<ProviderId>> = if own.is_empty() {
        vec![None]
    } else {
        providers
            .iter()
            .filter(|p| !own.contains(p))
            .map(|p| Some(p.clone()))
            .collect()
    };
    let mut blocks: Vec<OpenBlock> = Vec::new();
    for (res, row) in &chosen {
        let whose = match res {
            Resource::Provider(id) => vec![Some(id.clone())],
            _ => without_row.clone(),
        };
        for (start, end) in day_blocks(row, date.weekday()) {
            for provider_id in &whose {
                let block = OpenBlock {
                    provider_id: provider_id.clone(),
                    start,
                    end,
                };
                if !blocks.contains(&block) {
                    blocks.push(block);
                }
            }
        }
    }
    blocks.sort_by(|a, b| (&a.provider_id, a.start).cmp(&(&b.provider_id, b.start)));
    blocks
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
        let providers = [ProviderId::new("DDS1"), ProviderId::new("HYG1")];
        let blocks = open_blocks(&rows, monday, &providers);
        let block = |who: &str, from: i8, to: i8| OpenBlock {
            provider_id: Some(ProviderId::new(who)),
            start: time(from, 0, 0, 0),
            end: time(to, 0, 0, 0),
        };
        // DDS1 works its own row's hours; HYG1, without a row, the practice's.
        assert_eq!(
            blocks,
            vec![
                block("DDS1", 9, 15),
                block("HYG1", 8, 12),
                block("HYG1", 13, 17)
            ]
        );
        assert!(
            open_blocks(&rows, date(2024, 6, 4), &providers)
                .iter()
                .all(|b| b.provider_id == Some(ProviderId::new("DDS1"))),
            "the practice's holiday"
        );
        assert!(
            open_blocks(&rows, date(2024, 6, 2), &providers).is_empty(),
            "sunday: nothing set"
        );
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
        assert_eq!(open_blocks(std::slice::from_ref(&op), friday, &[]).len(), 1);
        let practice = row(
            "Practice",
            "1",
            "",
            &[("friday_start_1", "09:00"), ("friday_end_1", "10:00")],
        );
        let blocks = open_blocks(&[op, practice], friday, &[]);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].start, time(9, 0, 0, 0));
    }

    #[test]
    fn a_provider_whose_row_leaves_a_day_empty_does_not_work_it() {
        let practice = row(
            "Practice",
            "1",
            "2024-06-02",
            &[("monday_start_1", "08:00"), ("monday_end_1", "17:00")],
        );
        let hygienist = row(
            "Provider",
            "HYG1",
            "2024-06-02",
            &[("tuesday_start_1", "08:00"), ("tuesday_end_1", "17:00")],
        );
        let providers = [ProviderId::new("DDS1"), ProviderId::new("HYG1")];
        let monday = open_blocks(&[practice, hygienist], date(2024, 6, 3), &providers);
        assert!(!monday.is_empty());
        assert!(
            monday
                .iter()
                .all(|b| b.provider_id == Some(ProviderId::new("DDS1"))),
            "{monday:?}"
        );
    }
}
