#include <pgsieve/policy/builtins.hpp>

#include "discovery.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace pgsieve::policy::builtins {

namespace {

bool contains(std::initializer_list<std::string_view> list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

struct denied_family {
    std::string_view reason;
    std::initializer_list<std::string_view> exact;
    std::initializer_list<std::string_view> prefixes;
};

const denied_family denied[] = {
    {"reads server files or directories",
     {"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_current_logfile", "pg_file_write",
      "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_config", "pg_hba_file_rules", "pg_ident_file_mappings",
      "pg_show_all_file_settings"},
     {"pg_ls_", "pg_read_"}},
    {"accesses large objects",
     {"lo_import", "lo_export", "lo_open", "lo_close", "loread", "lowrite", "lo_creat", "lo_create", "lo_unlink",
      "lo_get", "lo_put", "lo_from_bytea", "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate",
      "lo_truncate64"},
     {}},
    {"runs SQL text or whole-table reads hidden from analysis",
     {"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "table_to_xml", "table_to_xmlschema",
      "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "ts_stat", "ts_rewrite",
      "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema"},
     {"schema_to_xml", "dblink", "postgres_fdw"}},
    {"changes settings", {"set_config"}, {}},
    {"reads every server setting", {"pg_show_all_settings"}, {}},
    {"sleeps", {"pg_sleep", "pg_sleep_for", "pg_sleep_until"}, {}},
    {"takes advisory locks", {}, {"pg_advisory", "pg_try_advisory"}},
    {"manipulates sequences", {"nextval", "setval", "currval", "lastval"}, {}},
    // Stable in pg_proc, yet each call assigns a transaction ID.
    {"assigns transaction IDs", {"txid_current", "pg_current_xact_id"}, {}},
    {"looks up an object by its name or OID, answering whether it exists",
     {"row_security_active", "currtid2", "ts_parse", "ts_token_type", "amvalidate", "btequalimage",
      "btvarstrequalimage", "satisfies_hash_partition", "fmgr_c_validator", "fmgr_internal_validator",
      "fmgr_sql_validator", "plpgsql_validator", "postgresql_fdw_validator"},
     {"binary_upgrade_"}},
    {"signals backends or reloads configuration",
     {"pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile",
      "pg_log_backend_memory_contexts", "pg_notify"},
     {}},
    {"reads other sessions' activity, locks or server statistics",
     {"pg_lock_status", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids", "pg_get_backend_memory_contexts",
      "pg_prepared_xact", "pg_get_shmem_allocations", "pg_get_replication_slots", "pg_get_wal_resource_managers",
      "pg_stat_statements", "pg_stat_statements_info", "pg_stat_statements_reset"},
     {"pg_stat_", "pg_statio_", "pg_control_"}},
    {"controls WAL, replication or backups",
     {"pg_switch_wal", "pg_create_restore_point", "pg_start_backup", "pg_stop_backup", "pg_backup_start",
      "pg_backup_stop", "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_import_system_collations",
      "pg_export_snapshot", "pg_replication_slot_advance"},
     {"pg_create_physical_replication_slot", "pg_create_logical_replication_slot", "pg_drop_replication_slot",
      "pg_logical_", "pg_replication_origin_", "pg_copy_", "pg_current_wal", "pg_last_wal", "pg_wal", "pg_walfile"}},
};

}  // namespace

std::string_view denied_function(std::string_view name) {
    for (const auto& family : denied) {
        for (const auto e : family.exact) {
            if (name == e) return family.reason;
        }
        for (const auto p : family.prefixes) {
            if (name.starts_with(p)) return family.reason;
        }
    }
    return {};
}

bool harmless_volatile(std::string_view name) {
    return contains({"random", "clock_timestamp", "timeofday", "gen_random_uuid", "statement_timestamp",
                     "pg_backend_pid", "pg_jit_available"},
                    name);
}

bool introspection_relation(std::string_view schema, std::string_view name) {
    return detail::discovery_relation_rule(schema, name) != detail::discovery_relation::refused;
}

std::vector<std::pair<std::string, std::string>> scoped_discovery_relations() {
    return detail::scoped_discovery_relations();
}

bool bootstrap_column(std::string_view schema, std::string_view relation, std::string_view column) {
    // Drivers read these on connect to learn type OIDs (postgres.js's array
    // types, pgJDBC and npgsql's type loads). They name no object.
    return schema == "pg_catalog" && relation == "pg_type" &&
           contains({"oid", "typarray", "typelem", "typcategory", "typdelim", "typtype", "typbasetype", "typlen",
                     "typbyval", "typnotnull", "typtypmod", "typndims", "typcollation", "typrelid", "typalign",
                     "typstorage", "typisdefined", "typispreferred"},
                    column);
}

bool settable_parameter(std::string_view name) {
    return contains({"application_name", "client_encoding", "datestyle", "timezone", "intervalstyle",
                     "extra_float_digits", "statement_timeout", "lock_timeout",
                     "idle_in_transaction_session_timeout", "bytea_output"},
                    name);
}

bool readable_parameter(std::string_view name) {
    return settable_parameter(name) || name.starts_with("pgsieve.") ||
           contains({"search_path", "server_version", "server_version_num", "server_encoding",
                     "standard_conforming_strings", "integer_datetimes", "max_identifier_length",
                     "transaction_isolation", "transaction isolation level", "transaction_read_only",
                     "default_transaction_read_only", "default_transaction_isolation", "lc_collate", "lc_ctype",
                     "lc_messages", "lc_monetary", "lc_numeric", "lc_time", "block_size", "max_index_keys",
                     "max_function_args", "in_hot_standby", "is_superuser"},
                    name);
}

}  // namespace pgsieve::policy::builtins
