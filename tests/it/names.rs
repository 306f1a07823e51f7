//! One name normaliser (issue 16): the SQL function `name_key(text)` (migrations/0030) and
//! `web::form::name_key` agree, and the people search's kept name is made by it.

use crate::helpers::*;
use school_portal::web::form::name_key;

const TRICKY: &[&str] = &[
    " Ёлкина  Алёна ",
    "ЁЛКИНА АЛЁНА",
    "ёлкина\tалёна",
    "Иванов\t\tИван\nИванович",
    "  МаКсИмОвА   ЕлЕнА  ",
    "Салтыков-Щедрин Михаил",
    "O'Brien Шон",
    "Петров\u{a0}Пётр",
    "\u{2003}Семёнов\u{3000}Семён\u{202f}",
    "",
    "   ",
    "Zoë Łukasz",
];

#[tokio::test]
async fn the_sql_name_key_agrees_with_the_rust_one() {
    let app = TestApp::spawn().await;
    for name in TRICKY {
        let sql: Option<String> = sqlx::query_scalar("select name_key($1)")
            .bind(*name)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(
            sql.as_deref(),
            Some(name_key(name).as_str()),
            "name {name:?}"
        );
    }
    assert_eq!(name_key(" Ёлкина  Алёна "), "елкина алена");
    let kept: String = sqlx::query_scalar("select portal_search_name(' Ёлкина ', 'Алёна', null)")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kept, "елкина алена");
}
