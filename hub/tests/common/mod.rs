//! Helpers shared by the hub's test files.

use sqlx::Connection;
use uuid::Uuid;

/// A fresh PostgreSQL database, or None when no server was provided (allowed only outside scripts/test).
pub(crate) async fn fresh_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("AGORA_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("AGORA_REQUIRE_POSTGRES").is_err(),
            "AGORA_REQUIRE_POSTGRES is set but AGORA_TEST_POSTGRES_URL is not: run the suite through scripts/test"
        );
        eprintln!("no AGORA_TEST_POSTGRES_URL: PostgreSQL part skipped (scripts/test provides one)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
    let db = format!("agora_test_{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').expect("url has a database").0;
    Some(format!("{base}/{db}"))
}
