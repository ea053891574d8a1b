//! The API's roles on the server: a group per database, which holds the
//! API's rights in that database and nowhere else, and the login role of
//! `DATABASE_URL`, whose one membership is that group.
//!
//! Roles belong to the server, not to a database, and one server (a Neon
//! branch) may hold several stacks' databases. A role `migrate` trusted as
//! it found it could carry rights from one to another: the second review
//! reproduced both ways, with the single server-wide group `todo_app` of
//! migration 5 (a staging API updating production's tasks; the group made
//! a member of the owner, giving a new API role DDL). So every run checks
//! both roles before it grants anything, refuses one that holds or inherits
//! more than the API's rights (saying what to do), grants the group this
//! database's rights afresh, and lets only the group (and the owner)
//! connect to the database.

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Transaction;

use super::MigrationError;
use crate::config::ConfigError;

/// The longest statement of the API's role, set on its login by every run
/// (so it holds through a pooler too): the task functions' Lambda timeout.
/// It bounds how long after its request a write can still take effect
/// (docs/behaviour.md, "What a 503 on a write means"), and it keeps a
/// runaway statement from holding a connection that Lambda gave up on.
pub const API_STATEMENT_TIMEOUT: &str = "10s";

/// The server-wide group of migration 5, replaced by one per database:
/// a login's membership in it is taken away, and it is dropped once no
/// database grants it anything (migration 6 revokes each database's).
const LEGACY_GROUP: &str = "todo_app";

/// The group that holds the API's rights in `database`.
pub fn group_of(database: &str) -> String {
    format!("{LEGACY_GROUP}_{database}")
}

/// Everything the API's role may do, granted to its database's group by
/// every run after the group's rights are reset ([`RESET`]): the rows of
/// the tables the API uses, its task ids, `task_slot_free`. No DDL, no
/// `schema_migrations`, no other schema. A migration that adds a table or
/// a function the API uses adds it here.
const RIGHTS: &str = "
    GRANT USAGE ON SCHEMA public TO {group};
    GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, idempotency_keys TO {group};
    GRANT USAGE ON SEQUENCE tasks_id_seq TO {group};
    GRANT EXECUTE ON FUNCTION task_slot_free(varchar, bigint) TO {group};
    REVOKE ALL ON DATABASE {database} FROM PUBLIC;
    GRANT CONNECT ON DATABASE {database} TO {group};
";

/// Whatever the group holds in the schema, taken away before [`RIGHTS`]
/// are granted: the group then holds exactly those.
const RESET: &str = "
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {group};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {group};
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {group};
    REVOKE ALL ON SCHEMA public FROM {group};
";

/// A connection URL, and the user it names.
pub(super) fn parse_url(url: &str) -> Result<(tokio_postgres::Config, String), String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("is not valid: {e}"))?;
    let user = config.get_user().ok_or("names no user")?.to_owned();
    Ok((config, user))
}

/// The login role of the API's `DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct ApiLogin {
    name: String,
    /// Its SCRAM-SHA-256 verifier; `None` when the URL has no password.
    /// Secret: a verifier is what an attacker guesses passwords against.
    verifier: Option<SecretString>,
}

impl ApiLogin {
    /// The user (a plain lower-case SQL name) and password of `url`
    /// (`DATABASE_URL`).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let problem = |problem: String| ConfigError {
            variable: "DATABASE_URL",
            problem,
        };
        let (config, name) = parse_url(url).map_err(problem)?;
        let plain = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(problem(format!(
                "names the role {name:?}: the API's role must be lower-case letters, digits \
                 and underscores"
            )));
        }
        let verifier = config
            .get_password()
            .map(|password| postgres_protocol::password::scram_sha_256(password).into());
        Ok(ApiLogin { name, verifier })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What the server says of a role, for the checks.
#[derive(Debug)]
struct Facts {
    /// Superuser, or may create roles or databases, bypass row security,
    /// replicate.
    privileged: bool,
    can_login: bool,
    /// The roles it is a member of (and so inherits from, or may `SET
    /// ROLE` to).
    member_of: Vec<String>,
    /// It owns an object, in some database of the server.
    owns: bool,
    /// It holds rights of its own anywhere (`pg_shdepend`).
    holds_rights: bool,
    /// Where outside this database it holds rights: `database <name>`
    /// (rights in it, or on it), or `the server` (another shared object).
    rights_elsewhere: Vec<String>,
}

impl Facts {
    /// The role's facts, or `None` when there is no such role.
    async fn of(tx: &Transaction<'_>, role: &str) -> Result<Option<Self>, tokio_postgres::Error> {
        let row = tx
            .query_opt(
                "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
                        OR r.rolreplication,
                    r.rolcanlogin,
                    ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                          JOIN pg_roles g ON g.oid = m.roleid
                          WHERE m.member = r.oid ORDER BY 1),
                    EXISTS (SELECT 1 FROM pg_shdepend d
                            WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                              AND d.deptype = 'o'),
                    EXISTS (SELECT 1 FROM pg_shdepend d
                            WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                              AND d.deptype = 'a'),
                    ARRAY(SELECT DISTINCT CASE
                              WHEN d.classid = 'pg_database'::regclass
                                  THEN 'database ' || (SELECT datname FROM pg_database
                                                       WHERE oid = d.objid)
                              WHEN d.dbid = 0 THEN 'the server'
                              ELSE 'database ' || (SELECT datname FROM pg_database
                                                   WHERE oid = d.dbid)
                          END
                          FROM pg_shdepend d
                          WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                            AND d.deptype = 'a' AND d.dbid <> here.oid
                            AND NOT (d.classid = 'pg_database'::regclass AND d.objid = here.oid)
                          ORDER BY 1)
                 FROM pg_roles r,
                      (SELECT oid FROM pg_database WHERE datname = current_database()) here
                 WHERE r.rolname = $1",
                &[&role],
            )
            .await?;
        Ok(row.map(|row| Facts {
            privileged: row.get(0),
            can_login: row.get(1),
            member_of: row.get(2),
            owns: row.get(3),
            holds_rights: row.get(4),
            rights_elsewhere: row.get(5),
        }))
    }

    /// Why `group`, found on the server, may not hold the API's rights in
    /// `database`: it must be a plain group that `migrate` could have
    /// made, with no attributes, no memberships, nothing owned and no
    /// rights beyond this database.
    fn refuse_as_group(&self, group: &str, database: &str) -> Option<String> {
        let problem = if self.privileged || self.can_login {
            "has attributes (it may log in, or is privileged)".to_owned()
        } else if !self.member_of.is_empty() {
            format!("is a member of {}", self.member_of.join(", "))
        } else if self.owns {
            "owns objects".to_owned()
        } else if !self.rights_elsewhere.is_empty() {
            format!("holds rights in {}", self.rights_elsewhere.join(", "))
        } else {
            return None;
        };
        Some(format!(
            "the role {group}, to which migrate grants the API's rights in database {database}, \
             {problem}: through it the API would have more. migrate makes this role itself: \
             drop it (DROP ROLE {group}, after DROP OWNED BY {group} in each database where it \
             holds something) and run migrate again"
        ))
    }

    /// Why the existing login `name` may not be the API's: it may have
    /// only what `group` grants. The legacy group's membership is taken
    /// away instead.
    fn refuse_as_login(&self, name: &str, group: &str) -> Option<String> {
        let other: Vec<&str> = self
            .member_of
            .iter()
            .map(String::as_str)
            .filter(|role| *role != group && *role != LEGACY_GROUP)
            .collect();
        let problem = if self.privileged {
            format!(
                "is privileged: the API must connect as a role that only {group}'s grants apply to"
            )
        } else if !other.is_empty() {
            format!(
                "is a member of {}: it would inherit more than {group}'s grants (a member of \
                 the tables' owner may alter or drop them; one of another database's group \
                 reaches that database's rows)",
                other.join(", ")
            )
        } else if self.owns || self.holds_rights {
            format!(
                "owns objects or holds rights of its own (in some database of this server): \
                 the API's role may have only {group}'s grants"
            )
        } else {
            return None;
        };
        Some(format!(
            "DATABASE_URL's role {name} {problem}. Let migrate create the API's role: drop this \
             one, or name a new role in DATABASE_URL."
        ))
    }
}

/// A name as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Sets up the API's roles for the database `tx` is in, after its
/// migrations, in their transaction: checks the group and the login, then
/// creates what is missing, grants the group exactly [`RIGHTS`] (and alone
/// with the owner the right to connect), and makes the login its member
/// with the password of `DATABASE_URL`. A refusal stops the whole run.
pub(super) async fn set_up(tx: &Transaction<'_>, login: &ApiLogin) -> Result<(), MigrationError> {
    let database: String = tx
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    let group = group_of(&database);
    if group.len() > 63 {
        return Err(MigrationError::Role(format!(
            "the database's name {database} is too long for the name of the API's group role, \
             {LEGACY_GROUP}_<database> (at most 63 bytes): use a database of a shorter name"
        )));
    }
    let group_facts = Facts::of(tx, &group).await?;
    if let Some(refusal) = group_facts
        .as_ref()
        .and_then(|facts| facts.refuse_as_group(&group, &database))
    {
        return Err(MigrationError::Role(refusal));
    }
    let login_facts = Facts::of(tx, &login.name).await?;
    if let Some(refusal) = login_facts
        .as_ref()
        .and_then(|facts| facts.refuse_as_login(&login.name, &group))
    {
        return Err(MigrationError::Role(refusal));
    }

    let (group_id, database_id, login_id) = (ident(&group), ident(&database), ident(&login.name));
    let fill = |template: &str| {
        template
            .replace("{group}", &group_id)
            .replace("{database}", &database_id)
    };
    if group_facts.is_none() {
        tx.batch_execute(&format!("CREATE ROLE {group_id} NOLOGIN"))
            .await?;
    }
    tx.batch_execute(&fill(RESET)).await?;
    tx.batch_execute(&fill(RIGHTS)).await?;
    let password = match &login.verifier {
        // Base64 and `$:` only: nothing to escape.
        Some(verifier) => format!(" PASSWORD '{}'", verifier.expose_secret()),
        None => String::new(),
    };
    let verb = if login_facts.is_none() {
        "CREATE"
    } else {
        "ALTER"
    };
    tx.batch_execute(&format!("{verb} ROLE {login_id} LOGIN{password}"))
        .await?;
    if login_facts.is_some_and(|facts| facts.member_of.iter().any(|g| g == LEGACY_GROUP)) {
        tx.batch_execute(&format!("REVOKE {LEGACY_GROUP} FROM {login_id}"))
            .await?;
    }
    tx.batch_execute(&format!(
        "ALTER ROLE {login_id} SET statement_timeout = '{API_STATEMENT_TIMEOUT}';
         GRANT {group_id} TO {login_id}"
    ))
    .await?;
    keeps_others_out(tx, &group, &database).await
}

/// After [`RIGHTS`]: only the group (and the database's owner, and
/// superusers) may connect. A `migrate` whose role does not own the
/// database could neither revoke `PUBLIC`'s right nor grant the group's
/// (PostgreSQL only warns): refused, saying what to do.
async fn keeps_others_out(
    tx: &Transaction<'_>,
    group: &str,
    database: &str,
) -> Result<(), MigrationError> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database d,
                                aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                            WHERE d.datname = current_database() AND a.grantee = 0
                              AND a.privilege_type = 'CONNECT'),
                    has_database_privilege($1, current_database(), 'CONNECT')",
            &[&group],
        )
        .await?;
    let (public, granted): (bool, bool) = (row.get(0), row.get(1));
    if public || !granted {
        return Err(MigrationError::Role(format!(
            "MIGRATE_DATABASE_URL's role does not own database {database}, so it cannot let \
             only {group} connect to it (CONNECT is {}). Migrate as the database's owner (on \
             Neon, the role that owns the database in the console)",
            if public {
                "still open to every role"
            } else {
                "not granted to the group"
            }
        )));
    }
    Ok(())
}

/// Drops the server-wide group of migration 5 when nothing depends on it
/// any more: no database grants it anything (each one's migration 6 has
/// run) and it owns nothing. Until then it stays, so that a stack not yet
/// migrated keeps working; no login `migrate` sets up is its member. A
/// failure (a dependency, or no right to drop roles) leaves it as it is.
pub(super) async fn drop_legacy_group(
    tx: &mut Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            &[&LEGACY_GROUP],
        )
        .await?
        .is_some();
    if exists {
        let attempt = tx.savepoint("drop_legacy_group").await?;
        match attempt
            .batch_execute(&format!("DROP ROLE {LEGACY_GROUP}"))
            .await
        {
            Ok(()) => attempt.commit().await?,
            Err(_) => attempt.rollback().await?,
        }
    }
    Ok(())
}
