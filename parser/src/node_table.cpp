// Every node type of libpg_query 15 (pg_query.proto's Node), classified.
// Handled nodes list each field with its treatment; adding a node is adding
// an entry here (and, for structure, a handler), never a new if-branch.

#include "node_table.hpp"

#include "walker.hpp"

#include <unordered_map>

namespace pgsieve::parser::detail {

namespace {

using r = role;
using c = clause;

// Statements.
constexpr field_rule raw_stmt_fields[] = {
    {"stmt", r::own}, {"stmt_location", r::scalar}, {"stmt_len", r::scalar}};
constexpr field_rule select_fields[] = {
    {"distinctClause", r::own},  {"intoClause", r::own, {}, "IntoClause"},
    {"targetList", r::own},      {"fromClause", r::own},
    {"whereClause", r::expr, c::where},
    {"groupClause", r::own},     {"groupDistinct", r::scalar},
    {"havingClause", r::expr, c::having},
    {"windowClause", r::own},    {"valuesLists", r::own},
    {"sortClause", r::own},      {"limitOffset", r::expr, c::limit},
    {"limitCount", r::expr, c::limit},
    {"limitOption", r::scalar},  {"lockingClause", r::own},
    {"withClause", r::own, {}, "WithClause"},
    {"op", r::scalar},           {"all", r::scalar},
    {"larg", r::own, {}, "SelectStmt"},
    {"rarg", r::own, {}, "SelectStmt"}};
constexpr field_rule insert_fields[] = {
    {"relation", r::own, {}, "RangeVar"}, {"cols", r::own},
    {"selectStmt", r::own},
    {"onConflictClause", r::own, {}, "OnConflictClause"},
    {"returningList", r::own},
    {"withClause", r::own, {}, "WithClause"},
    {"override", r::scalar}};
constexpr field_rule update_fields[] = {
    {"relation", r::own, {}, "RangeVar"}, {"targetList", r::own},
    {"whereClause", r::expr, c::where},   {"fromClause", r::own},
    {"returningList", r::own},            {"withClause", r::own, {}, "WithClause"}};
constexpr field_rule delete_fields[] = {
    {"relation", r::own, {}, "RangeVar"}, {"usingClause", r::own},
    {"whereClause", r::expr, c::where},   {"returningList", r::own},
    {"withClause", r::own, {}, "WithClause"}};
constexpr field_rule explain_fields[] = {{"query", r::own}, {"options", r::own}};
constexpr field_rule variable_show_fields[] = {{"name", r::scalar}};
constexpr field_rule variable_set_fields[] = {
    {"kind", r::scalar}, {"name", r::scalar}, {"args", r::own}, {"is_local", r::scalar}};
constexpr field_rule transaction_fields[] = {
    {"kind", r::scalar}, {"options", r::own}, {"savepoint_name", r::scalar}, {"gid", r::scalar},
    {"chain", r::scalar}};
constexpr field_rule prepare_fields[] = {{"name", r::scalar}, {"argtypes", r::own}, {"query", r::own}};
constexpr field_rule execute_fields[] = {{"name", r::scalar}, {"params", r::expr, c::function_argument}};
constexpr field_rule deallocate_fields[] = {{"name", r::scalar}};
constexpr field_rule declare_cursor_fields[] = {{"portalname", r::scalar}, {"options", r::scalar}, {"query", r::own}};
constexpr field_rule fetch_fields[] = {
    {"direction", r::scalar}, {"howMany", r::scalar}, {"portalname", r::scalar}, {"ismove", r::scalar}};
constexpr field_rule close_portal_fields[] = {{"portalname", r::scalar}};
constexpr field_rule discard_fields[] = {{"target", r::scalar}};
constexpr field_rule copy_fields[] = {
    {"relation", r::own, {}, "RangeVar"}, {"query", r::own},      {"attlist", r::names},
    {"is_from", r::scalar},               {"is_program", r::scalar}, {"filename", r::scalar},
    {"options", r::own},                  {"whereClause", r::own}};

// Query structure.
constexpr field_rule with_clause_fields[] = {{"ctes", r::own}, {"recursive", r::scalar}, {"location", r::scalar}};
constexpr field_rule cte_fields[] = {
    {"ctename", r::scalar},          {"aliascolnames", r::names},
    {"ctematerialized", r::scalar},  {"ctequery", r::own},
    {"search_clause", r::own, {}, "CTESearchClause"},
    {"cycle_clause", r::own, {}, "CTECycleClause"},
    {"location", r::scalar},         {"cterecursive", r::scalar},
    {"cterefcount", r::scalar},      {"ctecolnames", r::absent},
    {"ctecoltypes", r::absent},      {"ctecoltypmods", r::absent},
    {"ctecolcollations", r::absent}};
constexpr field_rule cte_search_fields[] = {
    {"search_col_list", r::names}, {"search_breadth_first", r::scalar}, {"search_seq_column", r::scalar},
    {"location", r::scalar}};
constexpr field_rule cte_cycle_fields[] = {
    {"cycle_col_list", r::names},        {"cycle_mark_column", r::scalar},
    {"cycle_mark_value", r::expr},       {"cycle_mark_default", r::expr},
    {"cycle_path_column", r::scalar},    {"location", r::scalar},
    {"cycle_mark_type", r::absent},      {"cycle_mark_typmod", r::absent},
    {"cycle_mark_collation", r::absent}, {"cycle_mark_neop", r::absent}};
constexpr field_rule alias_fields[] = {{"aliasname", r::scalar}, {"colnames", r::names}};
constexpr field_rule range_var_fields[] = {
    {"catalogname", r::scalar}, {"schemaname", r::scalar}, {"relname", r::scalar},
    {"inh", r::scalar},         {"relpersistence", r::scalar},
    {"alias", r::own, {}, "Alias"},
    {"location", r::scalar}};
constexpr field_rule range_subselect_fields[] = {
    {"lateral", r::scalar}, {"subquery", r::own}, {"alias", r::own, {}, "Alias"}};
constexpr field_rule range_function_fields[] = {
    {"lateral", r::scalar},   {"ordinality", r::scalar},        {"is_rowsfrom", r::scalar},
    {"functions", r::own},    {"alias", r::own, {}, "Alias"}, {"coldeflist", r::own}};
constexpr field_rule range_table_sample_fields[] = {
    {"relation", r::own}, {"method", r::own}, {"args", r::expr, c::from}, {"repeatable", r::expr, c::from},
    {"location", r::scalar}};
constexpr field_rule join_fields[] = {
    {"jointype", r::scalar},  {"isNatural", r::scalar},
    {"larg", r::own},         {"rarg", r::own},
    {"usingClause", r::own},  {"join_using_alias", r::own, {}, "Alias"},
    {"quals", r::own},        {"alias", r::own, {}, "Alias"},
    {"rtindex", r::scalar}};
constexpr field_rule res_target_fields[] = {
    {"name", r::scalar}, {"indirection", r::expr}, {"val", r::own}, {"location", r::scalar}};
constexpr field_rule multi_assign_fields[] = {{"source", r::expr}, {"colno", r::scalar}, {"ncolumns", r::scalar}};
constexpr field_rule sort_by_fields[] = {
    {"node", r::own}, {"sortby_dir", r::scalar}, {"sortby_nulls", r::scalar}, {"useOp", r::own},
    {"location", r::scalar}};
constexpr field_rule window_def_fields[] = {
    {"name", r::scalar},         {"refname", r::scalar},
    {"partitionClause", r::expr, c::window},
    {"orderClause", r::own},     {"frameOptions", r::scalar},
    {"startOffset", r::expr, c::window},
    {"endOffset", r::expr, c::window},
    {"location", r::scalar}};
constexpr field_rule grouping_set_fields[] = {{"kind", r::scalar}, {"content", r::own}, {"location", r::scalar}};
constexpr field_rule on_conflict_fields[] = {
    {"action", r::scalar}, {"infer", r::own, {}, "InferClause"}, {"targetList", r::own},
    {"whereClause", r::expr, c::on_conflict}, {"location", r::scalar}};
constexpr field_rule infer_fields[] = {
    {"indexElems", r::own}, {"whereClause", r::expr, c::on_conflict}, {"conname", r::scalar},
    {"location", r::scalar}};
constexpr field_rule index_elem_fields[] = {
    {"name", r::scalar},       {"expr", r::expr, c::on_conflict}, {"indexcolname", r::scalar},
    {"collation", r::names},   {"opclass", r::names},             {"opclassopts", r::absent},
    {"ordering", r::scalar},   {"nulls_ordering", r::scalar}};
constexpr field_rule column_def_fields[] = {
    {"colname", r::scalar},         {"typeName", r::own, {}, "TypeName"},
    {"compression", r::scalar},     {"inhcount", r::scalar},
    {"is_local", r::scalar},        {"is_not_null", r::scalar},
    {"is_from_type", r::scalar},    {"storage", r::scalar},
    {"raw_default", r::absent},     {"cooked_default", r::absent},
    {"identity", r::scalar},        {"identitySequence", r::absent, {}, "RangeVar"},
    {"generated", r::scalar},       {"collClause", r::own, {}, "CollateClause"},
    {"collOid", r::scalar},         {"constraints", r::absent},
    {"fdwoptions", r::absent},      {"location", r::scalar}};
constexpr field_rule def_elem_fields[] = {
    {"defnamespace", r::scalar}, {"defname", r::scalar}, {"arg", r::expr}, {"defaction", r::scalar},
    {"location", r::scalar}};

// Expressions.
constexpr field_rule type_name_fields[] = {
    {"names", r::names},   {"typeOid", r::scalar}, {"setof", r::scalar}, {"pct_type", r::scalar},
    {"typmods", r::expr},  {"typemod", r::scalar}, {"arrayBounds", r::expr}, {"location", r::scalar}};
constexpr field_rule type_cast_fields[] = {
    {"arg", r::own}, {"typeName", r::own, {}, "TypeName"}, {"location", r::scalar}};
constexpr field_rule collate_clause_fields[] = {{"arg", r::expr}, {"collname", r::names}, {"location", r::scalar}};
constexpr field_rule column_ref_fields[] = {{"fields", r::own}, {"location", r::scalar}};
constexpr field_rule param_ref_fields[] = {{"number", r::scalar}, {"location", r::scalar}};
constexpr field_rule a_const_fields[] = {
    {"ival", r::own, {}, "Integer"}, {"fval", r::own, {}, "Float"},        {"boolval", r::own, {}, "Boolean"},
    {"sval", r::own, {}, "String"},  {"bsval", r::own, {}, "BitString"},   {"isnull", r::scalar},
    {"location", r::scalar}};
constexpr field_rule a_expr_fields[] = {
    {"kind", r::scalar}, {"name", r::own}, {"lexpr", r::own}, {"rexpr", r::own}, {"location", r::scalar}};
constexpr field_rule a_indices_fields[] = {{"is_slice", r::scalar}, {"lidx", r::expr}, {"uidx", r::expr}};
constexpr field_rule a_indirection_fields[] = {{"arg", r::expr}, {"indirection", r::expr}};
constexpr field_rule a_array_fields[] = {{"elements", r::expr}, {"location", r::scalar}};
constexpr field_rule func_call_fields[] = {
    {"funcname", r::own},           {"args", r::own},
    {"agg_order", r::own},          {"agg_filter", r::expr, c::filter},
    {"over", r::own, {}, "WindowDef"},
    {"agg_within_group", r::scalar}, {"agg_star", r::scalar},
    {"agg_distinct", r::scalar},    {"func_variadic", r::scalar},
    {"funcformat", r::scalar},      {"location", r::scalar}};
constexpr field_rule named_arg_fields[] = {
    {"xpr", r::absent}, {"arg", r::expr}, {"name", r::scalar}, {"argnumber", r::scalar}, {"location", r::scalar}};
constexpr field_rule bool_expr_fields[] = {
    {"xpr", r::absent}, {"boolop", r::scalar}, {"args", r::expr}, {"location", r::scalar}};
constexpr field_rule sub_link_fields[] = {
    {"xpr", r::absent}, {"subLinkType", r::scalar}, {"subLinkId", r::scalar}, {"testexpr", r::own},
    {"operName", r::own}, {"subselect", r::own}, {"location", r::scalar}};
constexpr field_rule case_expr_fields[] = {
    {"xpr", r::absent}, {"casetype", r::absent}, {"casecollid", r::absent}, {"arg", r::own},
    {"args", r::own},   {"defresult", r::own},   {"location", r::scalar}};
constexpr field_rule case_when_fields[] = {
    {"xpr", r::absent}, {"expr", r::own}, {"result", r::own}, {"location", r::scalar}};
constexpr field_rule coalesce_fields[] = {
    {"xpr", r::absent}, {"coalescetype", r::absent}, {"coalescecollid", r::absent}, {"args", r::expr},
    {"location", r::scalar}};
constexpr field_rule min_max_fields[] = {
    {"xpr", r::absent}, {"minmaxtype", r::absent}, {"minmaxcollid", r::absent}, {"inputcollid", r::absent},
    {"op", r::scalar},  {"args", r::expr},         {"location", r::scalar}};
constexpr field_rule row_expr_fields[] = {
    {"xpr", r::absent},     {"args", r::expr},       {"row_typeid", r::absent},
    {"row_format", r::scalar}, {"colnames", r::absent}, {"location", r::scalar}};
constexpr field_rule sql_value_function_fields[] = {
    {"xpr", r::absent}, {"op", r::scalar}, {"type", r::absent}, {"typmod", r::scalar}, {"location", r::scalar}};
constexpr field_rule xml_expr_fields[] = {
    {"xpr", r::absent},       {"op", r::scalar},    {"name", r::scalar},    {"named_args", r::own},
    {"arg_names", r::absent}, {"args", r::expr},    {"xmloption", r::scalar}, {"type", r::absent},
    {"typmod", r::scalar},    {"location", r::scalar}};
constexpr field_rule xml_serialize_fields[] = {
    {"xmloption", r::scalar}, {"expr", r::expr}, {"typeName", r::own, {}, "TypeName"}, {"location", r::scalar}};
constexpr field_rule null_test_fields[] = {
    {"xpr", r::absent}, {"arg", r::expr}, {"nulltesttype", r::scalar}, {"argisrow", r::scalar},
    {"location", r::scalar}};
constexpr field_rule boolean_test_fields[] = {
    {"xpr", r::absent}, {"arg", r::expr}, {"booltesttype", r::scalar}, {"location", r::scalar}};
constexpr field_rule set_to_default_fields[] = {
    {"xpr", r::absent}, {"typeId", r::absent}, {"typeMod", r::scalar}, {"collation", r::absent},
    {"location", r::scalar}};
constexpr field_rule grouping_func_fields[] = {
    {"xpr", r::absent}, {"args", r::expr}, {"refs", r::absent}, {"cols", r::absent}, {"agglevelsup", r::absent},
    {"location", r::scalar}};
constexpr field_rule integer_fields[] = {{"ival", r::scalar}};
constexpr field_rule float_fields[] = {{"fval", r::scalar}};
constexpr field_rule boolean_fields[] = {{"boolval", r::scalar}};
constexpr field_rule string_fields[] = {{"sval", r::scalar}};
constexpr field_rule bit_string_fields[] = {{"bsval", r::scalar}};
constexpr field_rule list_fields[] = {{"items", r::expr}};

constexpr std::string_view analysis_only = "a node only PostgreSQL's parse analysis produces";
constexpr std::string_view ddl_part = "part of a statement pgsieve refuses";

using k = node_kind;
using w = walker;

constexpr node_rule rules[] = {
    // Statements pgsieve analyses.
    {"RawStmt", k::structural, raw_stmt_fields, &w::raw_stmt},
    {"SelectStmt", k::statement, select_fields, &w::select_stmt},
    {"InsertStmt", k::statement, insert_fields, &w::insert_stmt},
    {"UpdateStmt", k::statement, update_fields, &w::update_stmt},
    {"DeleteStmt", k::statement, delete_fields, &w::delete_stmt},
    {"ExplainStmt", k::statement, explain_fields, &w::explain_stmt},
    {"VariableShowStmt", k::statement, variable_show_fields, &w::variable_show_stmt},
    {"VariableSetStmt", k::statement, variable_set_fields, &w::variable_set_stmt},
    {"TransactionStmt", k::statement, transaction_fields, &w::transaction_stmt},
    {"PrepareStmt", k::statement, prepare_fields, &w::prepare_stmt},
    {"ExecuteStmt", k::statement, execute_fields, &w::execute_stmt},
    {"DeallocateStmt", k::statement, deallocate_fields, &w::deallocate_stmt},
    {"DeclareCursorStmt", k::statement, declare_cursor_fields, &w::declare_cursor_stmt},
    {"FetchStmt", k::statement, fetch_fields, &w::fetch_stmt},
    {"ClosePortalStmt", k::statement, close_portal_fields, &w::close_portal_stmt},
    {"DiscardStmt", k::statement, discard_fields, &w::discard_stmt},
    {"CopyStmt", k::statement, copy_fields, &w::copy_stmt},

    // Query structure, read by the handlers of the nodes that hold it.
    {"WithClause", k::structural, with_clause_fields},
    {"CommonTableExpr", k::structural, cte_fields},
    {"CTESearchClause", k::structural, cte_search_fields},
    {"CTECycleClause", k::structural, cte_cycle_fields},
    {"Alias", k::structural, alias_fields},
    {"RangeVar", k::structural, range_var_fields},
    {"RangeSubselect", k::structural, range_subselect_fields},
    {"RangeFunction", k::structural, range_function_fields},
    {"RangeTableSample", k::structural, range_table_sample_fields},
    {"JoinExpr", k::structural, join_fields},
    {"ResTarget", k::structural, res_target_fields},
    {"MultiAssignRef", k::expression, multi_assign_fields},
    {"SortBy", k::structural, sort_by_fields},
    {"WindowDef", k::structural, window_def_fields},
    {"GroupingSet", k::structural, grouping_set_fields},
    {"OnConflictClause", k::structural, on_conflict_fields},
    {"InferClause", k::structural, infer_fields},
    {"IndexElem", k::structural, index_elem_fields},
    {"ColumnDef", k::structural, column_def_fields},
    {"DefElem", k::structural, def_elem_fields},
    {"TypeName", k::structural, type_name_fields, &w::type_name},

    // Expressions.
    {"TypeCast", k::expression, type_cast_fields, &w::type_cast},
    {"CollateClause", k::expression, collate_clause_fields},
    {"ColumnRef", k::expression, column_ref_fields, &w::column_ref},
    {"ParamRef", k::expression, param_ref_fields, &w::param_ref},
    {"A_Const", k::expression, a_const_fields, &w::a_const},
    {"A_Expr", k::expression, a_expr_fields, &w::a_expr},
    {"A_Star", k::expression},
    {"A_Indices", k::expression, a_indices_fields},
    {"A_Indirection", k::expression, a_indirection_fields},
    {"A_ArrayExpr", k::expression, a_array_fields},
    {"FuncCall", k::expression, func_call_fields, &w::func_call},
    {"NamedArgExpr", k::expression, named_arg_fields},
    {"BoolExpr", k::expression, bool_expr_fields, &w::bool_expr},
    {"SubLink", k::expression, sub_link_fields, &w::sub_link},
    {"CaseExpr", k::expression, case_expr_fields, &w::case_expr},
    {"CaseWhen", k::expression, case_when_fields, &w::case_when},
    {"CoalesceExpr", k::expression, coalesce_fields},
    {"MinMaxExpr", k::expression, min_max_fields, &w::min_max_expr},
    {"RowExpr", k::expression, row_expr_fields},
    {"SQLValueFunction", k::expression, sql_value_function_fields},
    {"XmlExpr", k::expression, xml_expr_fields, &w::xml_expr},
    {"XmlSerialize", k::expression, xml_serialize_fields, &w::xml_serialize},
    {"NullTest", k::expression, null_test_fields, &w::null_test},
    {"BooleanTest", k::expression, boolean_test_fields, &w::boolean_test},
    {"SetToDefault", k::expression, set_to_default_fields},
    {"GroupingFunc", k::expression, grouping_func_fields},
    {"Integer", k::expression, integer_fields},
    {"Float", k::expression, float_fields},
    {"Boolean", k::expression, boolean_fields},
    {"String", k::expression, string_fields},
    {"BitString", k::expression, bit_string_fields},
    {"List", k::expression, list_fields},

    // Raw parse nodes that are not analysed: a statement holding one is refused.
    {"MergeStmt", k::refused, {}, nullptr, "MERGE"},
    {"MergeWhenClause", k::refused, {}, nullptr, "MERGE"},
    {"RangeTableFunc", k::refused, {}, nullptr, "XMLTABLE"},
    {"RangeTableFuncCol", k::refused, {}, nullptr, "XMLTABLE"},
    {"CurrentOfExpr", k::refused, {}, nullptr, "WHERE CURRENT OF"},
    {"LockingClause", k::refused, {}, nullptr, "a locking clause (FOR UPDATE/SHARE)"},
    {"IntoClause", k::refused, {}, nullptr, "SELECT … INTO"},

    // Parts of statements pgsieve refuses whole.
    {"AlterTableCmd", k::refused, {}, nullptr, ddl_part},
    {"ObjectWithArgs", k::refused, {}, nullptr, ddl_part},
    {"AccessPriv", k::refused, {}, nullptr, ddl_part},
    {"CreateOpClassItem", k::refused, {}, nullptr, ddl_part},
    {"TableLikeClause", k::refused, {}, nullptr, ddl_part},
    {"FunctionParameter", k::refused, {}, nullptr, ddl_part},
    {"Constraint", k::refused, {}, nullptr, ddl_part},
    {"StatsElem", k::refused, {}, nullptr, ddl_part},
    {"RoleSpec", k::refused, {}, nullptr, ddl_part},
    {"TriggerTransition", k::refused, {}, nullptr, ddl_part},
    {"PartitionElem", k::refused, {}, nullptr, ddl_part},
    {"PartitionSpec", k::refused, {}, nullptr, ddl_part},
    {"PartitionBoundSpec", k::refused, {}, nullptr, ddl_part},
    {"PartitionRangeDatum", k::refused, {}, nullptr, ddl_part},
    {"PartitionCmd", k::refused, {}, nullptr, ddl_part},
    {"VacuumRelation", k::refused, {}, nullptr, ddl_part},
    {"PublicationObjSpec", k::refused, {}, nullptr, ddl_part},
    {"PublicationTable", k::refused, {}, nullptr, ddl_part},

    // Produced only by parse analysis, the planner or PL/pgSQL: never in a raw parse tree.
    {"TableFunc", k::refused, {}, nullptr, analysis_only},
    {"Var", k::refused, {}, nullptr, analysis_only},
    {"Param", k::refused, {}, nullptr, analysis_only},
    {"Aggref", k::refused, {}, nullptr, analysis_only},
    {"WindowFunc", k::refused, {}, nullptr, analysis_only},
    {"SubscriptingRef", k::refused, {}, nullptr, analysis_only},
    {"FuncExpr", k::refused, {}, nullptr, analysis_only},
    {"OpExpr", k::refused, {}, nullptr, analysis_only},
    {"DistinctExpr", k::refused, {}, nullptr, analysis_only},
    {"NullIfExpr", k::refused, {}, nullptr, analysis_only},
    {"ScalarArrayOpExpr", k::refused, {}, nullptr, analysis_only},
    {"SubPlan", k::refused, {}, nullptr, analysis_only},
    {"AlternativeSubPlan", k::refused, {}, nullptr, analysis_only},
    {"FieldSelect", k::refused, {}, nullptr, analysis_only},
    {"FieldStore", k::refused, {}, nullptr, analysis_only},
    {"RelabelType", k::refused, {}, nullptr, analysis_only},
    {"CoerceViaIO", k::refused, {}, nullptr, analysis_only},
    {"ArrayCoerceExpr", k::refused, {}, nullptr, analysis_only},
    {"ConvertRowtypeExpr", k::refused, {}, nullptr, analysis_only},
    {"CollateExpr", k::refused, {}, nullptr, analysis_only},
    {"CaseTestExpr", k::refused, {}, nullptr, analysis_only},
    {"ArrayExpr", k::refused, {}, nullptr, analysis_only},
    {"RowCompareExpr", k::refused, {}, nullptr, analysis_only},
    {"CoerceToDomain", k::refused, {}, nullptr, analysis_only},
    {"CoerceToDomainValue", k::refused, {}, nullptr, analysis_only},
    {"NextValueExpr", k::refused, {}, nullptr, analysis_only},
    {"InferenceElem", k::refused, {}, nullptr, analysis_only},
    {"TargetEntry", k::refused, {}, nullptr, analysis_only},
    {"RangeTblRef", k::refused, {}, nullptr, analysis_only},
    {"FromExpr", k::refused, {}, nullptr, analysis_only},
    {"OnConflictExpr", k::refused, {}, nullptr, analysis_only},
    {"MergeAction", k::refused, {}, nullptr, analysis_only},
    {"Query", k::refused, {}, nullptr, analysis_only},
    {"SetOperationStmt", k::refused, {}, nullptr, analysis_only},
    {"RangeTblEntry", k::refused, {}, nullptr, analysis_only},
    {"RangeTblFunction", k::refused, {}, nullptr, analysis_only},
    {"TableSampleClause", k::refused, {}, nullptr, analysis_only},
    {"WithCheckOption", k::refused, {}, nullptr, analysis_only},
    {"SortGroupClause", k::refused, {}, nullptr, analysis_only},
    {"WindowClause", k::refused, {}, nullptr, analysis_only},
    {"RowMarkClause", k::refused, {}, nullptr, analysis_only},
    {"CallContext", k::refused, {}, nullptr, analysis_only},
    {"InlineCodeBlock", k::refused, {}, nullptr, analysis_only},
    {"IntList", k::refused, {}, nullptr, analysis_only},
    {"OidList", k::refused, {}, nullptr, analysis_only},
    {"ReturnStmt", k::refused, {}, nullptr, analysis_only},
    {"PLAssignStmt", k::refused, {}, nullptr, analysis_only},

    // Statements refused whole, by kind: DDL, privileges, utility commands.
    {"AlterTableStmt", k::refused_statement}, {"AlterDomainStmt", k::refused_statement},
    {"GrantStmt", k::refused_statement}, {"GrantRoleStmt", k::refused_statement},
    {"AlterDefaultPrivilegesStmt", k::refused_statement}, {"ClusterStmt", k::refused_statement},
    {"CreateStmt", k::refused_statement}, {"DefineStmt", k::refused_statement},
    {"DropStmt", k::refused_statement}, {"TruncateStmt", k::refused_statement},
    {"CommentStmt", k::refused_statement}, {"IndexStmt", k::refused_statement},
    {"CreateFunctionStmt", k::refused_statement}, {"AlterFunctionStmt", k::refused_statement},
    {"DoStmt", k::refused_statement}, {"RenameStmt", k::refused_statement},
    {"RuleStmt", k::refused_statement}, {"NotifyStmt", k::refused_statement},
    {"ListenStmt", k::refused_statement}, {"UnlistenStmt", k::refused_statement},
    {"ViewStmt", k::refused_statement}, {"LoadStmt", k::refused_statement},
    {"CreateDomainStmt", k::refused_statement}, {"CreatedbStmt", k::refused_statement},
    {"DropdbStmt", k::refused_statement}, {"VacuumStmt", k::refused_statement},
    {"CreateTableAsStmt", k::refused_statement}, {"CreateSeqStmt", k::refused_statement},
    {"AlterSeqStmt", k::refused_statement}, {"CreateTrigStmt", k::refused_statement},
    {"CreatePLangStmt", k::refused_statement}, {"CreateRoleStmt", k::refused_statement},
    {"AlterRoleStmt", k::refused_statement}, {"DropRoleStmt", k::refused_statement},
    {"LockStmt", k::refused_statement}, {"ConstraintsSetStmt", k::refused_statement},
    {"ReindexStmt", k::refused_statement}, {"CheckPointStmt", k::refused_statement},
    {"CreateSchemaStmt", k::refused_statement}, {"AlterDatabaseStmt", k::refused_statement},
    {"AlterDatabaseRefreshCollStmt", k::refused_statement}, {"AlterDatabaseSetStmt", k::refused_statement},
    {"AlterRoleSetStmt", k::refused_statement}, {"CreateConversionStmt", k::refused_statement},
    {"CreateCastStmt", k::refused_statement}, {"CreateOpClassStmt", k::refused_statement},
    {"CreateOpFamilyStmt", k::refused_statement}, {"AlterOpFamilyStmt", k::refused_statement},
    {"CreateTableSpaceStmt", k::refused_statement}, {"DropTableSpaceStmt", k::refused_statement},
    {"AlterObjectDependsStmt", k::refused_statement}, {"AlterObjectSchemaStmt", k::refused_statement},
    {"AlterOwnerStmt", k::refused_statement}, {"AlterOperatorStmt", k::refused_statement},
    {"AlterTypeStmt", k::refused_statement}, {"DropOwnedStmt", k::refused_statement},
    {"ReassignOwnedStmt", k::refused_statement}, {"CompositeTypeStmt", k::refused_statement},
    {"CreateEnumStmt", k::refused_statement}, {"CreateRangeStmt", k::refused_statement},
    {"AlterEnumStmt", k::refused_statement}, {"AlterTSDictionaryStmt", k::refused_statement},
    {"AlterTSConfigurationStmt", k::refused_statement}, {"CreateFdwStmt", k::refused_statement},
    {"AlterFdwStmt", k::refused_statement}, {"CreateForeignServerStmt", k::refused_statement},
    {"AlterForeignServerStmt", k::refused_statement}, {"CreateUserMappingStmt", k::refused_statement},
    {"AlterUserMappingStmt", k::refused_statement}, {"DropUserMappingStmt", k::refused_statement},
    {"AlterTableSpaceOptionsStmt", k::refused_statement}, {"AlterTableMoveAllStmt", k::refused_statement},
    {"SecLabelStmt", k::refused_statement}, {"CreateForeignTableStmt", k::refused_statement},
    {"ImportForeignSchemaStmt", k::refused_statement}, {"CreateExtensionStmt", k::refused_statement},
    {"AlterExtensionStmt", k::refused_statement}, {"AlterExtensionContentsStmt", k::refused_statement},
    {"CreateEventTrigStmt", k::refused_statement}, {"AlterEventTrigStmt", k::refused_statement},
    {"RefreshMatViewStmt", k::refused_statement}, {"ReplicaIdentityStmt", k::refused_statement},
    {"AlterSystemStmt", k::refused_statement}, {"CreatePolicyStmt", k::refused_statement},
    {"AlterPolicyStmt", k::refused_statement}, {"CreateTransformStmt", k::refused_statement},
    {"CreateAmStmt", k::refused_statement}, {"CreatePublicationStmt", k::refused_statement},
    {"AlterPublicationStmt", k::refused_statement}, {"CreateSubscriptionStmt", k::refused_statement},
    {"AlterSubscriptionStmt", k::refused_statement}, {"DropSubscriptionStmt", k::refused_statement},
    {"CreateStatsStmt", k::refused_statement}, {"AlterCollationStmt", k::refused_statement},
    {"CallStmt", k::refused_statement}, {"AlterStatsStmt", k::refused_statement},
};

}  // namespace

std::span<const node_rule> all_rules() { return rules; }

const node_rule* find_rule(std::string_view type) {
    static const auto index = [] {
        std::unordered_map<std::string_view, const node_rule*> m;
        for (const auto& rule : rules) m.emplace(rule.type, &rule);
        return m;
    }();
    const auto it = index.find(type);
    return it == index.end() ? nullptr : it->second;
}

}  // namespace pgsieve::parser::detail

#include <pgsieve/parser/coverage.hpp>

namespace pgsieve::parser {

std::vector<node_coverage> coverage_table() {
    using detail::node_kind;
    using detail::role;
    std::vector<node_coverage> out;
    for (const auto& rule : detail::all_rules()) {
        node_coverage n;
        n.type = rule.type;
        switch (rule.kind) {
            case node_kind::expression: n.kind = "expression"; break;
            case node_kind::structural: n.kind = "structural"; break;
            case node_kind::statement: n.kind = "statement"; break;
            case node_kind::refused_statement: n.kind = "refused_statement"; break;
            case node_kind::refused: n.kind = "refused"; break;
        }
        n.has_handler = rule.handle != nullptr;
        for (const auto& f : rule.fields) {
            std::string r;
            switch (f.treatment) {
                case role::scalar: r = "scalar"; break;
                case role::expr: r = "expr"; break;
                case role::names: r = "names"; break;
                case role::own: r = "own"; break;
                case role::absent: r = "absent"; break;
            }
            n.fields.push_back({std::string(f.name), r, std::string(f.message)});
        }
        out.push_back(std::move(n));
    }
    return out;
}

}  // namespace pgsieve::parser
