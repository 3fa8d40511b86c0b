// Fuzz target "mcp": one JSON-RPC message (or batch) into McpServerSession::handle(), with every
// tool of the contract registered (tools::registerAllTools) over an AnsweringStore.
//
// Input: the first byte chooses the session's state, the rest is the message.
//   bits 0-1  0: not initialized; 1, 2, 3: initialized with 2025-11-25, 2025-06-18, 2025-03-26
//             (the last one accepts batches)
//   bit 2     the store answers every call with an error (else with an empty result)
//   bit 3     the caller has the read scope only (else admin)
//   bit 4     a reply limit of 64 bytes (tool results turn into too_large)
//   bit 5     the session is closing (new requests are refused)
//   bit 6     an extra method handler (as resources/* use): answers "x/now" at once, "x/later" from the
//             event loop, declines the rest
// After handle(), the store's queued answers are delivered, so every iteration ends with nothing in
// flight and the session is destroyed. Checks: every reply is valid JSON-RPC 2.0 (our own output
// must parse), handle() answers exactly once when it says it will (at most once when the message
// may cancel a request of its own batch: a cancelled request gets no answer), never when it says it will not,
// and no request stays pending.

#include <cstdio>

#include <QByteArray>
#include <QCoreApplication>

#include "answeringstore.h"
#include "fuzzsupport.h"
#include "protocol/json.h"
#include "protocol/jsonrpc.h"
#include "protocol/mcpserversession.h"
#include "protocol/toolregistry.h"
#include "tools/changefeed.h"
#include "tools/tools.h"

using namespace sidecar;

namespace {

struct World
{
    fuzz::AnsweringStore store;
    tools::ChangeFeed feed{store};
    protocol::ToolRegistry registry;
};

World *world = nullptr;

// One JSON-RPC response object as this server writes them.
void checkResponse(const json::Value &message)
{
    FUZZ_CHECK(message.isObject());
    FUZZ_CHECK(!message.hasOwnDuplicateKeys());
    const json::Value *version = message.find("jsonrpc");
    FUZZ_CHECK(version && version->isString() && version->text() == "2.0");
    const json::Value *id = message.find("id");
    FUZZ_CHECK(id && (id->isNull() || id->isString() || id->isNumber()));
    const json::Value *result = message.find("result");
    const json::Value *error = message.find("error");
    FUZZ_CHECK((result == nullptr) != (error == nullptr));
    if (error) {
        const json::Value *code = error->find("code");
        FUZZ_CHECK(code && code->toInt64().has_value());
        const json::Value *text = error->find("message");
        FUZZ_CHECK(text && text->isString());
    } else {
        FUZZ_CHECK(result->isObject());
    }
}

void checkReply(const QByteArray &reply, bool batches)
{
    json::ParseError error;
    const auto doc = json::parse(reply, &error);
    if (!doc)
        std::fprintf(stderr, "unparsable reply (%s at %zu): %s\n", error.message.c_str(), error.offset,
                     reply.left(400).constData());
    FUZZ_CHECK(doc.has_value());
    const json::Value &root = doc->root();
    if (root.isArray()) {
        FUZZ_CHECK(batches);
        FUZZ_CHECK(!root.items().empty());
        for (const json::Value &item : root.items())
            checkResponse(item);
    } else {
        checkResponse(root);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    fuzz::ensureCoreApplication();
    fuzz::quietLogging();
    world = new World; // lives as long as the process
    // Watches are answered at once from now on: no iteration leaves a timer behind.
    world->feed.shutdown();
    tools::ToolOptions options;
    options.allowReset = true; // sidecar_reset goes past its switch to its arguments
    if (auto registered = tools::registerAllTools(world->registry, world->store, world->feed, options);
        !registered)
        qFatal("registerAllTools failed: %s", qPrintable(registered.error().message));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size == 0)
        return 0;
    const std::uint8_t mode = data[0];
    const int version = mode & 3;
    world->store.setFailing(mode & 4);

    protocol::McpServerSession session(world->registry, protocol::ServerInfo{});
    session.setCallContext(
        {QStringLiteral("fuzz"), (mode & 8) ? protocol::Scope::Read : protocol::Scope::Admin});
    if (mode & 16)
        session.setMaxReplyBytes(64);
    const bool batches = version == 3;
    int sunk = 0;
    session.setSink([&sunk, batches](const QByteArray &message) {
        ++sunk;
        checkReply(message, batches);
    });

    if (version != 0) {
        static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
        const QByteArray initialize = QByteArray(
                                          R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{)")
                                      + R"("protocolVersion":")" + versions[version - 1]
                                      + R"(","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}})";
        session.handle(initialize);
        session.handle(QByteArrayLiteral(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
        FUZZ_CHECK(sunk == 1);
        FUZZ_CHECK(session.initialized());
        FUZZ_CHECK(session.protocolVersion() == QLatin1String(versions[version - 1]));
    }
    if (mode & 32)
        session.setClosing();
    session.setCallObserver([](const protocol::CallRecord &record) {
        FUZZ_CHECK(record.seconds >= 0);
        FUZZ_CHECK(!(record.rpcError && record.toolError));
    });
    if (mode & 64) {
        session.setMethodHandler([](const QString &method, const QByteArray &id, const json::Value *,
                                    std::function<void(QByteArray)> respond) {
            if (method == QLatin1String("x/now")) {
                respond(jsonrpc::response(id, QByteArrayLiteral("{}")));
                return true;
            }
            if (method == QLatin1String("x/later")) {
                QMetaObject::invokeMethod(
                    &world->store, [id, respond] { respond(jsonrpc::response(id, QByteArrayLiteral("{}"))); },
                    Qt::QueuedConnection);
                return true;
            }
            return false;
        });
    }

    const QByteArray text(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    int replies = 0;
    const bool answers = session.handle(text, [&replies, batches](const QByteArray &reply) {
        ++replies;
        if (!reply.isEmpty()) // empty: every request was cancelled, the answer withheld
            checkReply(reply, batches);
    });
    QCoreApplication::sendPostedEvents(); // "x/later"
    world->store.drain();
    QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete); // deleteLater() of anything

    FUZZ_CHECK(world->store.pending() == 0);
    FUZZ_CHECK(session.pendingCount() == 0);
    // Exactly one reply (possibly an empty one, for a cancelled request) when one was promised.
    FUZZ_CHECK(replies == (answers ? 1 : 0));
    return 0;
}
