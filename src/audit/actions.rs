//! Every action code the portal writes to the audit log, with its Russian title: the one
//! table the log's page, its filter and its CSV read (a test scans the source for every
//! code written and finds each here).

/// A refused request (written by the route guard, [`crate::web::guard`]).
pub const ACCESS_DENIED: &str = "access.denied";

/// The codes a person's own account writes without a school (logins, passwords, sessions):
/// a school's log shows them for its members.
pub const ACCOUNT_ACTIONS: &[&str] = &[
    "login",
    "login.failed",
    "logout",
    "password.changed",
    "password.set_by_link",
    "password.reset_requested",
    "session.ended",
    "session.ended_all",
];

/// Code → title, grouped by area; the filter lists them in this order.
pub const ACTIONS: &[(&str, &str)] = &[
    // Entry and accounts.
    ("login", "Вход"),
    ("login.failed", "Неудачный вход"),
    ("logout", "Выход"),
    (ACCESS_DENIED, "Отказ в доступе"),
    ("password.changed", "Пароль изменён"),
    ("password.set_by_link", "Пароль задан по ссылке"),
    (
        "password.reset_requested",
        "Запрошено восстановление пароля",
    ),
    ("session.ended", "Сеанс завершён"),
    ("session.ended_all", "Выход на всех устройствах"),
    ("operator.created", "Создан оператор"),
    (
        "account.created_by_invite",
        "Учётная запись создана по приглашению",
    ),
    (
        "account.created_by_offer",
        "Учётная запись создана по предложению",
    ),
    // The school.
    ("school.created", "Школа создана"),
    ("school.profile_updated", "Профиль школы изменён"),
    (
        "school.consent_setting",
        "Настройка согласий родителей изменена",
    ),
    ("admin.appointed", "Назначен администратор"),
    (
        "admin_rights.proposed",
        "Предложено выдать права администратора",
    ),
    ("admin_rights.approved", "Права администратора согласованы"),
    (
        "admin_rights.rejected",
        "Права администратора не согласованы",
    ),
    ("admin_rights.revoked", "Права администратора отозваны"),
    ("regulation.edition_added", "Новая редакция Положения"),
    ("registration.applied", "Регистрация школы применена"),
    ("support.requested", "Обращение в поддержку"),
    // Classes, subjects, people.
    ("class.created", "Класс создан"),
    ("class.updated", "Класс изменён"),
    ("class.deleted", "Класс удалён"),
    ("class_teacher.order", "Приказ о классном руководстве"),
    ("class_teacher.assigned", "Назначен классный руководитель"),
    ("class_teacher.removed", "Классное руководство снято"),
    ("subject.created", "Предмет добавлен"),
    ("subject.archived", "Предмет в архиве"),
    ("teaching.assigned", "Назначен учитель предмета"),
    ("teaching.removed", "Назначение учителя снято"),
    ("person.staff_added", "Сотрудник добавлен"),
    ("people.corrected", "Данные человека исправлены"),
    ("people.login_link", "Выдана ссылка для входа"),
    ("people.sessions_ended", "Сеансы человека завершены"),
    ("verification.confirmed", "Статус подтверждён"),
    ("verification.rejected", "Статус отклонён"),
    ("membership.parent_left", "Родитель выбыл вместе с детьми"),
    (
        "consent.parent_given",
        "Согласие родителя на участие в чатах",
    ),
    ("consent.own_given", "Согласие ученика на участие в чатах"),
    // Movements, imports, exports.
    ("movement.enrolment", "Зачисление"),
    ("movement.transfer", "Перевод"),
    ("movement.leaving", "Выбытие"),
    ("movement.staff_leaving", "Выбытие сотрудника"),
    ("movement.graduation", "Выпуск"),
    ("movement.promotion", "Перевод в следующий класс"),
    ("movement.repeat", "Оставлен на повторное обучение"),
    ("rollover.applied", "Переход на новый учебный год"),
    ("import.uploaded", "Файл импорта загружен"),
    ("import.applied", "Импорт применён"),
    ("export.students", "Выгрузка учеников"),
    ("export.staff", "Выгрузка сотрудников"),
    ("export.movements", "Выгрузка движения"),
    ("export.audit", "Выгрузка журнала действий"),
    // Invitations and requests.
    ("invite.created", "Приглашение создано"),
    ("invite.slips_created", "Листки с приглашениями созданы"),
    ("invite.sent_by_email", "Приглашение отправлено по почте"),
    ("invite.redeemed", "Приглашение использовано"),
    ("invite.revoked", "Приглашение отозвано"),
    ("invite.revoked_class", "Приглашения класса отозваны"),
    (
        "invite.deactivated_unused",
        "Неиспользованные приглашения отключены",
    ),
    (
        "join.registration_existing",
        "Вход по приглашению в существующую учётную запись",
    ),
    ("join_request.created", "Заявка на вступление"),
    ("join_request.approved", "Заявка одобрена"),
    ("join_request.rejected", "Заявка отклонена"),
    ("offer.created", "Предложение создано"),
    ("offer.accepted", "Предложение принято"),
    ("offer.declined", "Предложение отклонено"),
    (
        "offer.registration_existing",
        "Предложение принято существующей учётной записью",
    ),
    // Chats and the connector.
    ("chat.created", "Чат создан"),
    ("chat.edited", "Чат изменён"),
    ("chat.archived", "Чат в архиве"),
    ("chat.handed_over", "Чат передан"),
    ("chat.member_added", "Участник добавлен в чат"),
    ("chat.member_removed", "Участник исключён из чата"),
    ("chat.reconciled", "Состав чата сверен"),
    ("chat.roster_synced", "Состав чата обновлён"),
    (
        "connector.configured",
        "Подключение к мессенджеру настроено",
    ),
    ("connector.subscribed", "Подписка на события мессенджера"),
    (
        "connector.account_bound",
        "Учётная запись связана с мессенджером",
    ),
    ("connector.chat_matched", "Чат связан с мессенджером"),
    (
        "connector.chat_adopted",
        "Чат, созданный на платформе, принят как чат класса",
    ),
    (
        "connector.leavers_setting",
        "Изменена настройка исключения выбывших",
    ),
    (
        "connector.removal_automatic",
        "Выбывший исключён из чата автоматически",
    ),
    (
        "connector.removal_requested",
        "Запрошено исключение из чата",
    ),
    (
        "connector.removal_confirmed",
        "Исключение из чата подтверждено",
    ),
    ("connector.removal_failed", "Исключение из чата не удалось"),
    // Channels and posts.
    ("channel.created", "Канал создан"),
    ("channel.archived", "Канал в архиве"),
    ("post.created", "Публикация создана"),
    ("post.edited", "Публикация изменена"),
    ("post.attachment_added", "Вложение добавлено"),
    ("post.attachment_removed", "Вложение удалено"),
    ("post.draft", "Публикация возвращена в черновики"),
    ("post.submitted", "Публикация отправлена на проверку"),
    ("post.returned", "Публикация возвращена на доработку"),
    ("post.declined", "Публикация отклонена"),
    ("post.scheduled", "Публикация запланирована"),
    ("post.published", "Публикация опубликована"),
    ("post.withdrawn", "Публикация снята"),
    // Broadcasts.
    ("broadcast.planned", "Трансляция запланирована"),
    ("broadcast.changed", "Трансляция изменена"),
    ("broadcast.moved", "Трансляция перенесена"),
    ("broadcast.cancelled", "Трансляция отменена"),
    ("broadcast.held", "Трансляция проведена"),
    ("broadcast.occurrence_cancelled", "Занятие серии отменено"),
    ("calendar_feed.issued", "Выдана ссылка на календарь"),
    // Statistics.
    ("participation.recorded", "Участие отмечено"),
    ("participation.withdrawn", "Отметка об участии снята"),
    ("stats.exported", "Выгрузка статистики школы"),
    ("stats.report_downloaded", "Скачан отчёт по статистике"),
    ("stats.region_exported", "Выгрузка статистики региона"),
    (
        "region.specialist_appointed",
        "Назначен региональный специалист",
    ),
    (
        "region.specialist_revoked",
        "Назначение регионального специалиста отменено",
    ),
    // Housekeeping.
    ("janitor.sessions", "Очистка: истёкшие сеансы"),
    ("janitor.tokens", "Очистка: одноразовые ссылки"),
    ("janitor.invites", "Очистка: приглашения"),
    ("janitor.throttle", "Очистка: ограничения входа"),
    ("janitor.rate_limits", "Очистка: счётчики запросов"),
    ("janitor.imports", "Очистка: неприменённые импорты"),
    ("janitor.form_keys", "Очистка: ключи форм"),
    ("janitor.people", "Очистка: данные выбывших"),
];

/// The Russian title of an action code; a code not in the table (an old row) as it is.
pub fn title(code: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, t)| t)
}

/// Whether `code` is one of the table's.
pub fn known(code: &str) -> bool {
    ACTIONS.iter().any(|(c, _)| *c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the source writes has a title: string literals that look like a code
    /// (dotted words, and any literal after `action: `), and the codes made from a state.
    #[test]
    fn every_code_written_has_a_title() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut codes = std::collections::BTreeSet::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("audit/actions.rs")
                {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                codes.extend(code_literals(&text));
            }
        }
        assert!(codes.len() > 100, "the scan found codes: {codes:?}");
        for s in crate::channels::model::State::ALL {
            codes.insert(format!("post.{}", s.as_str()));
        }
        use crate::broadcasts::model::BState;
        for s in [
            BState::Planned,
            BState::Moved,
            BState::Cancelled,
            BState::Held,
        ] {
            // A new state must be added here (and to the table).
            match s {
                BState::Planned | BState::Moved | BState::Cancelled | BState::Held => {}
            }
            codes.insert(format!("broadcast.{}", s.as_str()));
        }
        let missing: Vec<_> = codes.iter().filter(|c| !known(c)).collect();
        assert!(missing.is_empty(), "codes without a title: {missing:?}");
        // And titles are one each.
        let mut seen = std::collections::HashSet::new();
        for (c, _) in ACTIONS {
            assert!(seen.insert(c), "{c} twice");
        }
    }

    /// The literals of a source text that are action codes: a quoted dotted word anywhere (not a
    /// file name, not a demo login like `"belov.s"`), and any plain word after `action: `.
    fn code_literals(text: &str) -> Vec<String> {
        const FILES: [&str; 10] = [
            "csv", "xlsx", "pdf", "html", "pid", "conf", "log", "ics", "txt", "json",
        ];
        let word =
            |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
        let mut out = Vec::new();
        for (i, _) in text.match_indices('"') {
            let rest = &text[i + 1..];
            let len = rest
                .bytes()
                .take_while(|c| c.is_ascii_lowercase() || *c == b'_' || *c == b'.')
                .count();
            if !rest[len..].starts_with('"') {
                continue;
            }
            let lit = &rest[..len];
            // A plain word is a code when it is an audit entry's action.
            let before = &text[..i];
            let after_action = before.ends_with("action: ")
                && before
                    .rfind("Entry {")
                    .is_some_and(|e| before.len() - e < 300);
            match lit.split_once('.') {
                Some((area, what))
                    if word(area) && word(what) && !FILES.contains(&what) && what.len() > 1 =>
                {
                    out.push(lit.to_owned());
                }
                None if after_action && word(lit) => out.push(lit.to_owned()),
                _ => {}
            }
        }
        out
    }
}
