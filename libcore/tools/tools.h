#pragma once

// The contract's tools (docs/contract/TOOLS.md, groups 1-5), each defined once: name,
// description for a model, input and output schema, annotations, scope and a handler that
// turns arguments into a Store call and the Store's answer into the result object.
// Thread: handlers run on the session's thread and answer there (the Store guarantees it).

#include <QElapsedTimer>

#include "protocol/result.h"
#include "protocol/toolregistry.h"
#include "store/store.h"

namespace sidecar::tools {

struct ToolOptions
{
    qint64 maxValueBytes = 1 << 20;
    qint64 maxReplyBytes = qint64(16) << 20;
    double defaultClaimTtl = 300;
    bool allowReset = false;
};

class ChangeFeed;

// Registers every tool of the contract, in the contract's order. `store` and `feed` must
// outlive `registry`.
Result<void> registerAllTools(protocol::ToolRegistry &registry, store::Store &store, ChangeFeed &feed,
                              const ToolOptions &options);

// The groups, one file each.
Result<void> registerKvTools(protocol::ToolRegistry &registry, store::Store &store, ChangeFeed &feed,
                             const ToolOptions &options);
Result<void> registerWorkflowTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options);
Result<void> registerLeaseTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options);
Result<void> registerSessionTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options);
Result<void> registerObservabilityTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options);

} // namespace sidecar::tools
