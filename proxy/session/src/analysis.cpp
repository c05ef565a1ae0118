#include <pgsieve/session/analysis.hpp>

namespace pgsieve::session {

analysis_result analyse(const analysis_job& job) {
    analysis_result out;
    const auto* policy = job.snapshot && job.snapshot->cfg ? job.snapshot->cfg->find_policy(job.policy) : nullptr;
    if (!policy || !job.snapshot->catalog) return out;  // the session decides again (and refuses)
    const policy::context ctx{*job.snapshot->cfg, *policy, *job.snapshot->catalog, job.search_path, job.upstream_role,
                              nullptr};
    auto statements = policy::parse_statements(job.sql, ctx);
    if (!statements) {
        out.decision = std::make_shared<const policy::decision>(std::move(statements.error()));
    } else if (policy::uses_session_names(*statements)) {
        out.facts = std::move(*statements);
    } else {
        out.decision = std::make_shared<const policy::decision>(policy::decide(*statements, job.sql, ctx));
    }
    return out;
}

}  // namespace pgsieve::session
