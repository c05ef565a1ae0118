#include "builtins.hpp"

#include <algorithm>
#include <array>

namespace pgsieve::policy::builtins {

namespace {

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view name) {
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
      "pg_file_rename", "pg_file_unlink", "pg_file_sync"},
     {"pg_ls_"}},
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
    {"sleeps", {"pg_sleep", "pg_sleep_for", "pg_sleep_until"}, {}},
    {"takes advisory locks", {}, {"pg_advisory", "pg_try_advisory"}},
    {"manipulates sequences", {"nextval", "setval", "currval", "lastval"}, {}},
    // Stable in pg_proc, yet each call assigns a transaction ID.
    {"assigns transaction IDs", {"txid_current", "pg_current_xact_id"}, {}},
    {"signals backends or reloads configuration",
     {"pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile",
      "pg_log_backend_memory_contexts", "pg_notify"},
     {}},
    {"controls WAL, replication or backups",
     {"pg_switch_wal", "pg_create_restore_point", "pg_start_backup", "pg_stop_backup", "pg_backup_start",
      "pg_backup_stop", "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_import_system_collations"},
     {"pg_create_physical_replication_slot", "pg_create_logical_replication_slot", "pg_drop_replication_slot",
      "pg_logical_", "pg_replication_origin_", "pg_copy_", "pg_replication_slot_advance"}},
    {"resets statistics", {}, {"pg_stat_reset"}},
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
    static constexpr std::array<std::string_view, 5> names = {"random", "clock_timestamp", "timeofday",
                                                               "gen_random_uuid", "statement_timestamp"};
    return contains(names, name);
}

bool introspection_function(std::string_view name) {
    static constexpr std::array<std::string_view, 30> names = {
        "pg_get_indexdef", "pg_get_constraintdef", "pg_get_viewdef", "pg_get_expr", "pg_get_userbyid",
        "obj_description", "col_description", "shobj_description", "pg_get_triggerdef", "pg_get_functiondef",
        "pg_get_function_arguments", "pg_get_function_result", "pg_get_function_identity_arguments",
        "pg_get_serial_sequence", "pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible",
        "has_table_privilege", "has_schema_privilege", "has_column_privilege", "has_any_column_privilege",
        "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size", "pg_get_partkeydef",
        "pg_get_statisticsobjdef", "pg_get_ruledef", "pg_relation_is_updatable", "pg_column_is_updatable"};
    return contains(names, name);
}

bool introspection_relation(std::string_view schema, std::string_view name) {
    // information_schema is the standard's discovery interface: its views
    // show only what the upstream role may see.
    if (schema == "information_schema") return true;
    if (schema != "pg_catalog") return false;
    // Never: pg_authid, pg_shadow, pg_stat_*, pg_settings, pg_statistic and
    // pg_stats (they hold column values), pg_largeobject, pg_hba_file_rules,
    // user mappings.
    static constexpr std::array<std::string_view, 28> names = {
        "pg_class", "pg_namespace", "pg_attribute", "pg_type", "pg_index", "pg_constraint", "pg_description",
        "pg_tables", "pg_views", "pg_indexes", "pg_matviews", "pg_attrdef", "pg_am", "pg_inherits", "pg_enum",
        "pg_collation", "pg_extension", "pg_proc", "pg_trigger", "pg_depend", "pg_database", "pg_range",
        "pg_partitioned_table", "pg_sequence", "pg_language", "pg_event_trigger",
        // The session's own prepared statements and cursors (drivers look).
        "pg_prepared_statements", "pg_cursors"};
    return contains(names, name);
}

bool safe_parameter(std::string_view name) {
    static constexpr std::array<std::string_view, 8> names = {"application_name", "client_encoding",
                                                              "datestyle",        "timezone",
                                                              "intervalstyle",    "extra_float_digits",
                                                              "statement_timeout", "lock_timeout"};
    return contains(names, name);
}

}  // namespace pgsieve::policy::builtins
