// Fuzz target "json": the hand-written JSON parser (libcore/protocol/json.h).
//
// Any bytes are parsed. A text that parses must round-trip: its compact form (the source minus
// insignificant whitespace: what requests and stored values travel as) parses to the same tree and
// compacts to itself; a fresh serialisation of the tree (every string escaped again by
// appendQuoted, as the Writer does) parses to the same tree too. Duplicate-key flags must match a
// recount, the nesting limit must hold exactly at the tree's depth, and number conversions must not
// fail the sanitizers. A text that does not parse must report an offset inside it.

#include <algorithm>
#include <set>
#include <string>

#include <QByteArray>

#include "fuzzsupport.h"
#include "protocol/json.h"

using namespace sidecar;

namespace {

bool sameTree(const json::Value &a, const json::Value &b)
{
    if (a.type() != b.type())
        return false;
    switch (a.type()) {
    case json::Type::Null: return true;
    case json::Type::Bool: return a.toBool() == b.toBool();
    case json::Type::Number:
    case json::Type::String: return a.text() == b.text();
    case json::Type::Array:
        if (a.items().size() != b.items().size())
            return false;
        for (std::size_t i = 0; i < a.items().size(); ++i) {
            if (!sameTree(a.items()[i], b.items()[i]))
                return false;
        }
        return true;
    case json::Type::Object:
        if (a.members().size() != b.members().size())
            return false;
        for (std::size_t i = 0; i < a.members().size(); ++i) {
            if (a.members()[i].key != b.members()[i].key
                || !sameTree(a.members()[i].value, b.members()[i].value))
                return false;
        }
        return true;
    }
    return false;
}

// A copy of the tree built through the public constructors: no source spans, so compact()
// serialises it afresh.
json::Value rebuild(const json::Value &v)
{
    switch (v.type()) {
    case json::Type::Null: return json::Value::makeNull();
    case json::Type::Bool: return json::Value::makeBool(v.toBool());
    case json::Type::Number: return json::Value::makeNumber(v.text());
    case json::Type::String: return json::Value::makeString(v.text());
    case json::Type::Array: {
        json::Value out(json::Type::Array);
        for (const json::Value &item : v.items())
            out.items().push_back(rebuild(item));
        return out;
    }
    case json::Type::Object: {
        json::Value out(json::Type::Object);
        for (const json::Member &m : v.members())
            out.members().push_back({m.key, rebuild(m.value)});
        return out;
    }
    }
    return {};
}

// Checks the duplicate-key flags of the subtree against a recount; returns whether some object in
// it has a key twice. Also exercises the number conversions and measures the nesting depth.
bool checkNode(const json::Value &v, int depth, int &maxDepth)
{
    bool dupBelow = false;
    if (v.isArray() || v.isObject())
        maxDepth = std::max(maxDepth, depth + 1);
    if (v.isNumber()) {
        (void)v.isIntegerText();
        (void)v.toInt64();
        (void)v.toDouble();
    } else if (v.isArray()) {
        for (const json::Value &item : v.items())
            dupBelow = checkNode(item, depth + 1, maxDepth) || dupBelow;
    } else if (v.isObject()) {
        std::set<std::string> keys;
        bool own = false;
        for (const json::Member &m : v.members()) {
            own = !keys.insert(m.key).second || own;
            dupBelow = checkNode(m.value, depth + 1, maxDepth) || dupBelow;
        }
        FUZZ_CHECK(v.hasOwnDuplicateKeys() == own);
        FUZZ_CHECK(v.find(v.members().empty() ? std::string() : v.members().front().key)
                   == (v.members().empty() ? nullptr : &v.members().front().value));
        dupBelow = dupBelow || own;
    }
    FUZZ_CHECK(v.hasDuplicateKeys() == dupBelow);
    return dupBelow;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    json::ParseError error;
    const auto doc = json::parse(text, &error);
    if (!doc) {
        FUZZ_CHECK(error.offset <= size);
        FUZZ_CHECK(!error.message.empty());
        return 0;
    }
    const json::Value &root = doc->root();
    int depth = 0;
    checkNode(root, 0, depth);

    // The nesting limit holds exactly at the tree's depth.
    FUZZ_CHECK(json::parse(text, nullptr, depth).has_value());
    if (depth > 0)
        FUZZ_CHECK(!json::parse(text, nullptr, depth - 1).has_value());

    // The compact form: the source minus whitespace (all of it: minify() also drops what surrounds the
    // value), stable under a second round.
    const QByteArray compact = root.compact();
    FUZZ_CHECK(compact == json::minify(std::string_view(text.constData(), std::size_t(text.size()))));
    const auto again = json::parse(compact);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(sameTree(root, again->root()));
    FUZZ_CHECK(again->root().compact() == compact);
    FUZZ_CHECK(again->root().hasDuplicateKeys() == root.hasDuplicateKeys());

    // A fresh serialisation: strings escaped again, numbers as their text.
    const json::Value copy = rebuild(root);
    const QByteArray fresh = copy.compact();
    const auto reparsed = json::parse(fresh);
    FUZZ_CHECK(reparsed.has_value());
    FUZZ_CHECK(sameTree(root, reparsed->root()));
    FUZZ_CHECK(reparsed->root().compact() == fresh);
    return 0;
}
