#include <pgsieve/policy/builtins.hpp>

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

bool introspection_function(std::string_view name) {
    return contains(
        {"pg_get_indexdef", "pg_get_constraintdef", "pg_get_viewdef", "pg_get_expr", "pg_get_userbyid",
         "obj_description", "col_description", "shobj_description", "pg_get_triggerdef", "pg_get_functiondef",
         "pg_get_function_arguments", "pg_get_function_result", "pg_get_function_identity_arguments",
         "pg_get_function_arg_default", "pg_get_serial_sequence", "pg_table_is_visible", "pg_type_is_visible",
         "pg_function_is_visible", "pg_operator_is_visible", "pg_opclass_is_visible", "pg_collation_is_visible",
         "pg_conversion_is_visible", "pg_statistics_obj_is_visible", "pg_ts_config_is_visible",
         "has_table_privilege", "has_schema_privilege", "has_column_privilege", "has_any_column_privilege",
         "has_function_privilege", "has_sequence_privilege", "has_type_privilege", "has_database_privilege",
         "pg_has_role", "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
         "pg_database_size", "pg_get_partkeydef", "pg_get_partition_constraintdef", "pg_get_statisticsobjdef",
         "pg_get_statisticsobjdef_columns", "pg_get_statisticsobjdef_expressions", "pg_get_ruledef",
         "pg_relation_is_updatable", "pg_column_is_updatable", "pg_relation_is_publishable", "pg_partition_ancestors",
         "pg_partition_root", "pg_partition_tree", "pg_describe_object", "pg_identify_object",
         "pg_identify_object_as_address", "pg_get_object_address", "pg_get_keywords", "pg_get_publication_tables",
         "pg_index_column_has_property", "pg_index_has_property", "pg_indexam_has_property", "pg_options_to_table",
         "pg_sequence_parameters", "pg_get_catalog_foreign_keys", "pg_relation_filenode", "pg_column_size"},
        name);
}

bool introspection_relation(std::string_view schema, std::string_view name) {
    if (schema == "information_schema") {
        // The standard's discovery interface; never the views of foreign
        // servers and user mappings (their options can hold credentials).
        return name.find("foreign") == std::string_view::npos && name.find("user_mapping") == std::string_view::npos &&
               !name.starts_with("_pg_");
    }
    if (schema != "pg_catalog") return false;
    // Never: pg_authid, pg_shadow, pg_user_mapping(s), pg_stat_*, pg_settings,
    // pg_statistic and pg_stats (they hold column values), pg_largeobject,
    // pg_hba_file_rules, pg_sequences (their values), foreign servers.
    return contains({"pg_class", "pg_namespace", "pg_attribute", "pg_type", "pg_index", "pg_constraint",
                     "pg_description", "pg_tables", "pg_views", "pg_indexes", "pg_matviews", "pg_attrdef", "pg_am",
                     "pg_inherits", "pg_enum", "pg_collation", "pg_extension", "pg_proc", "pg_trigger", "pg_depend",
                     "pg_database", "pg_range", "pg_partitioned_table", "pg_sequence", "pg_language",
                     "pg_event_trigger", "pg_operator", "pg_opclass", "pg_opfamily", "pg_amop", "pg_amproc", "pg_cast",
                     "pg_aggregate", "pg_tablespace", "pg_rewrite", "pg_policy", "pg_policies", "pg_publication",
                     "pg_publication_namespace", "pg_publication_rel", "pg_statistic_ext", "pg_roles",
                     "pg_conversion", "pg_shdescription", "pg_ts_config", "pg_ts_dict", "pg_ts_parser",
                     "pg_ts_template", "pg_available_extensions", "pg_timezone_names", "pg_timezone_abbrevs",
                     // The session's own prepared statements and cursors (drivers look).
                     "pg_prepared_statements", "pg_cursors"},
                    name);
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
