// sidecar-docgen: prints, as Markdown, the tool reference (docs/tools.md) or the metrics reference
// (docs/metrics.md) from the definitions the server itself uses: the tool registry as
// registerAllTools() fills it, and Metrics::families(). Built, never installed: the update-docs
// target rewrites both files in the source tree, and the docs_reference test fails when they differ
// from what this prints (docgen.cmake).
//
//   sidecar-docgen tools|metrics
//
// The output depends on the code alone (no time, host or path): tools in registration order,
// schema properties in the order they are written.

#include <QCoreApplication>

#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/toolregistry.h"
#include "store/sqlitestore.h"
#include "tools/changefeed.h"
#include "tools/tools.h"
#include "transport/metrics.h"

namespace {

using sidecar::json::Value;
namespace protocol = sidecar::protocol;

constexpr char kRegenerate[] = "by sidecar-docgen; do not edit: regenerate with "
                               "`cmake --build <dir> --target update-docs`.";

constexpr char kToolsIntro[] =
    " tools, listed here in the order `tools/list` gives them. Each takes one JSON\n"
    "object of arguments, checked against its `inputSchema` before the tool runs, and answers with\n"
    "`structuredContent` (the same object also comes as JSON text) that matches its `outputSchema`. Errors,\n"
    "sizes, times, revisions and paging work the same way for every tool: see the\n"
    "[tool contract](contract/TOOLS.md).\n"
    "\n"
    "Reading the tables:\n"
    "- `a.b` is the field `b` of the object `a`, `a[].b` the field `b` of each item of the array `a`, and\n"
    "  `a.*.b` the field `b` of each value of the object `a`; \"required\" and \"always present\" speak\n"
    "  of a field within its enclosing object.\n"
    "- An optional argument sent as `null` counts as not given; a numeric argument may also be sent as a\n"
    "  numeric string (`\"5\"`).\n"
    "- A result field marked \"always present\" is in every result (`null` when its type allows it and it\n"
    "  has no value); the others appear only where they apply.\n"
    "- Scope: what a bearer token must grant to call the tool (`read` < `write` < `admin`); without a\n"
    "  tokens file every caller has every scope. The four hints are the tool's MCP annotations.\n"
    "\n";

constexpr char kMetricsIntroBefore[] =
    "`GET /metrics` answers with every family below, in this order, in the Prometheus text exposition\n"
    "format 0.0.4 (content type `";
constexpr char kMetricsIntroAfter[] =
    "`).\n"
    "Only the HTTP transport serves it (`SIDECAR_TRANSPORT=http`, or `mcp-state-sidecar-http`): over stdio\n"
    "there is no endpoint. With a tokens file (`SIDECAR_TOKENS_FILE`) it needs a bearer token, of any\n"
    "scope.\n"
    "\n";

constexpr char kHistograms[] =
    "\n"
    "## Histograms\n"
    "\n"
    "A histogram `h` is written as `h_bucket` samples with an `le` label (cumulative counts, one per upper\n"
    "bound, the last at `le=\"+Inf\"`, equal to `h_count`), then `h_sum` and `h_count`, each with the\n"
    "family's other labels. The bounds:\n"
    "\n"
    "| histogram | `le` bounds |\n"
    "|---|---|\n";

std::string utf8(const QString &s)
{
    return s.toStdString();
}

// ---- Markdown

// A table cell: one line, pipes escaped (GitHub reads \| as | in a cell, inside code spans too).
std::string cell(std::string_view s)
{
    std::string out;
    for (const char c : s) {
        if (c == '|')
            out += "\\|";
        else if (c == '\n')
            out += ' ';
        else if (c != '\r')
            out += c;
    }
    return out;
}

// Text written for a model, shown as prose: what Markdown would read as markup is escaped.
std::string prose(std::string_view s)
{
    std::string out;
    for (const char c : s) {
        if (c == '\\' || c == '*' || c == '[' || c == ']')
            out += '\\';
        if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else
            out += c;
    }
    return out;
}

std::string code(std::string_view s)
{
    const std::string fence = s.find('`') == std::string_view::npos ? "`" : "``";
    const std::string pad = fence.size() > 1 ? " " : "";
    return fence + pad + std::string(s) + pad + fence;
}

std::string compact(const Value &v)
{
    return v.compact().toStdString();
}

// ---- JSON Schema, read as a reader of the docs needs it

std::string typeText(const Value &schema);

// "1 to 10", "≥ 1", "≤ 10", or empty.
std::string rangeText(const Value &schema, const char *minKey, const char *maxKey)
{
    const Value *min = schema.find(minKey);
    const Value *max = schema.find(maxKey);
    if (min && max)
        return min->text() + " to " + max->text();
    if (min)
        return "≥ " + min->text();
    if (max)
        return "≤ " + max->text();
    return {};
}

std::string countText(const Value &schema, const char *minKey, const char *maxKey, const std::string &unit)
{
    const Value *min = schema.find(minKey);
    const Value *max = schema.find(maxKey);
    if (min && max && min->text() == max->text())
        return "exactly " + min->text() + " " + unit + (min->text() == "1" ? "" : "s");
    if (min && max)
        return min->text() + " to " + max->text() + " " + unit + "s";
    if (min && min->text() == "1" && unit == "character")
        return "non-empty";
    if (min)
        return "at least " + min->text() + " " + unit + (min->text() == "1" ? "" : "s");
    if (max)
        return "at most " + max->text() + " " + unit + (max->text() == "1" ? "" : "s");
    return {};
}

// The type with its constraints: "string, non-empty", "integer, 1 to 10000", "string or null",
// "array of string", "object with string values", "any JSON".
std::string typeText(const Value &schema)
{
    std::vector<std::string> types;
    if (const Value *type = schema.find("type")) {
        if (type->isString())
            types.push_back(type->text());
        for (const Value &t : type->items())
            types.push_back(t.text());
    }
    for (const char *combinator : {"anyOf", "oneOf"}) {
        if (const Value *alternatives = schema.find(combinator)) {
            for (const Value &alternative : alternatives->items())
                types.push_back(typeText(alternative));
        }
    }
    if (types.empty() && schema.find("properties"))
        types.push_back("object");

    std::string text;
    for (std::string &t : types) {
        if (t == "array") {
            if (const Value *items = schema.find("items"); items && items->isObject())
                t = "array of " + typeText(*items);
        } else if (t == "object") {
            if (const Value *values = schema.find("additionalProperties"); values && values->isObject())
                t = "object with " + typeText(*values) + " values";
        }
        text += (text.empty() ? "" : " or ") + t;
    }
    if (text.empty())
        text = schema.find("enum") || schema.find("const") ? "" : "any JSON";

    std::vector<std::string> constraints;
    if (const Value *values = schema.find("enum")) {
        std::string list = "one of ";
        for (std::size_t i = 0; i < values->items().size(); ++i)
            list += (i ? ", " : "") + code(compact(values->items()[i]));
        constraints.push_back(list);
    }
    if (const Value *only = schema.find("const"))
        constraints.push_back("always " + code(compact(*only)));
    if (std::string range = rangeText(schema, "minimum", "maximum"); !range.empty())
        constraints.push_back(range);
    if (const Value *min = schema.find("exclusiveMinimum"))
        constraints.push_back("> " + min->text());
    if (const Value *max = schema.find("exclusiveMaximum"))
        constraints.push_back("< " + max->text());
    if (std::string length = countText(schema, "minLength", "maxLength", "character"); !length.empty())
        constraints.push_back(length);
    if (std::string count = countText(schema, "minItems", "maxItems", "item"); !count.empty())
        constraints.push_back(count);
    if (const Value *pattern = schema.find("pattern"))
        constraints.push_back("matching " + code(pattern->text()));
    if (const Value *format = schema.find("format"))
        constraints.push_back("format " + code(format->text()));
    for (const std::string &c : constraints)
        text += (text.empty() ? "" : ", ") + c;
    return text;
}

struct Row
{
    std::string path; // a.b, a[].b, a.*.b
    std::string type;
    bool required = false;
    std::string defaultValue;
    std::string description;
};

void collectRows(const Value &schema, const std::string &path, std::vector<Row> &rows);

// The rows of the fields nested in `schema` (the property at `path`): an object's properties,
// an array's items' and the values' of an object used as a map.
void collectNested(const Value &schema, const std::string &path, std::vector<Row> &rows)
{
    if (schema.find("properties"))
        collectRows(schema, path + ".", rows);
    if (const Value *items = schema.find("items"); items && items->isObject())
        collectNested(*items, path + "[]", rows);
    if (const Value *values = schema.find("additionalProperties"); values && values->isObject())
        collectNested(*values, path + ".*", rows);
}

void collectRows(const Value &schema, const std::string &prefix, std::vector<Row> &rows)
{
    std::set<std::string> required;
    if (const Value *names = schema.find("required")) {
        for (const Value &name : names->items())
            required.insert(name.text());
    }
    const Value *properties = schema.find("properties");
    if (!properties)
        return;
    for (const sidecar::json::Member &m : properties->members()) {
        Row row;
        row.path = prefix + m.key;
        row.type = typeText(m.value);
        row.required = required.count(m.key) > 0;
        if (const Value *value = m.value.find("default"))
            row.defaultValue = code(compact(*value));
        if (const Value *description = m.value.find("description"))
            row.description = description->text();
        rows.push_back(row);
        collectNested(m.value, row.path, rows);
    }
}

// A table of fields; the default and description columns only when a row has one.
std::string fieldTable(const std::vector<Row> &rows, const char *nameHeader, const char *requiredHeader)
{
    bool defaults = false;
    bool descriptions = false;
    for (const Row &row : rows) {
        defaults = defaults || !row.defaultValue.empty();
        descriptions = descriptions || !row.description.empty();
    }
    std::string out = std::string("| ") + nameHeader + " | type | " + requiredHeader + " |";
    std::string rule = "|---|---|---|";
    if (defaults) {
        out += " default |";
        rule += "---|";
    }
    if (descriptions) {
        out += " description |";
        rule += "---|";
    }
    out += "\n" + rule + "\n";
    for (const Row &row : rows) {
        out += "| " + cell(code(row.path)) + " | " + cell(row.type) + " | " + (row.required ? "yes" : "no")
               + " |";
        if (defaults)
            out += " " + cell(row.defaultValue) + " |";
        if (descriptions)
            out += " " + cell(prose(row.description)) + " |";
        out += '\n';
    }
    return out;
}

const char *scopeName(protocol::Scope scope)
{
    switch (scope) {
    case protocol::Scope::Read: return "read";
    case protocol::Scope::Write: return "write";
    case protocol::Scope::Admin: return "admin";
    }
    return "?";
}

const char *boolText(bool b)
{
    return b ? "true" : "false";
}

// ---- the documents

int printTools()
{
    // The registry the server builds (Daemon::start()). Registering reads nothing from the store,
    // so it is never opened.
    sidecar::store::SqliteStore store{QString(), sidecar::store::StoreOptions()};
    sidecar::tools::ChangeFeed feed(store);
    protocol::ToolRegistry registry;
    if (auto registered = sidecar::tools::registerAllTools(registry, store, feed,
                                                           sidecar::tools::ToolOptions());
        !registered) {
        std::fprintf(stderr, "sidecar-docgen: %s\n", qPrintable(registered.error().message));
        return 1;
    }

    std::string out = "# Tool reference\n\n";
    out += std::string("Generated from the tool definitions ") + kRegenerate + "\n\n";
    out += "The sidecar serves " + std::to_string(registry.tools().size()) + kToolsIntro;
    out += "| tool | title | scope |\n|---|---|---|\n";
    for (const auto &tool : registry.tools()) {
        const protocol::ToolDefinition &d = tool->definition;
        out += "| [" + cell(code(utf8(d.name))) + "](#" + utf8(d.name) + ") | " + cell(prose(utf8(d.title)))
               + " | " + scopeName(d.scope) + " |\n";
    }

    for (const auto &tool : registry.tools()) {
        const protocol::ToolDefinition &d = tool->definition;
        out += "\n## " + utf8(d.name) + "\n\n";
        if (!d.title.isEmpty())
            out += "*" + prose(utf8(d.title)) + "*\n\n";
        out += prose(utf8(d.description)) + "\n\n";
        out += std::string("Scope: `") + scopeName(d.scope)
               + "` · readOnlyHint: " + boolText(d.annotations.readOnly)
               + " · destructiveHint: " + boolText(d.annotations.destructive)
               + " · idempotentHint: " + boolText(d.annotations.idempotent)
               + " · openWorldHint: " + boolText(d.annotations.openWorld) + "\n\n";

        std::vector<Row> arguments;
        collectRows(tool->input.root(), "", arguments);
        out += "**Arguments**\n\n";
        if (arguments.empty())
            out += "None.\n";
        else
            out += fieldTable(arguments, "argument", "required");
        const Value *extra = tool->input.root().find("additionalProperties");
        if (!extra || !extra->isBool() || extra->toBool())
            out += "\nArguments not listed are accepted too.\n";

        std::vector<Row> results;
        collectRows(tool->output.root(), "", results);
        out += "\n**Result**\n\n";
        if (results.empty())
            out += "An object; its fields are not described.\n";
        else
            out += fieldTable(results, "field", "always present");
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

std::vector<std::string> splitLabels(std::string_view labels)
{
    std::vector<std::string> names;
    while (!labels.empty()) {
        const std::size_t comma = labels.find(',');
        names.emplace_back(labels.substr(0, comma));
        labels = comma == std::string_view::npos ? std::string_view() : labels.substr(comma + 1);
    }
    return names;
}

// Renders an exposition with every family populated and checks that it writes the families of
// Metrics::families(), in that order, with their types and labels. Returns the first mismatch.
std::string checkMetricsTable()
{
    using sidecar::http::Metrics;
    Metrics metrics({QStringLiteral("state_get")});
    metrics.recordCall(QStringLiteral("state_get"), sidecar::ErrorCode::NotFound, 0.001);
    metrics.recordCommit(1, 0.001);
    Metrics::Snapshot snapshot;
    snapshot.backend = QStringLiteral("sqlite");
    snapshot.revision = snapshot.liveKeys = snapshot.leases = snapshot.sessions = 1;
    snapshot.workflowsByStatus[QStringLiteral("done")] = 1;
    const QList<QByteArray> lines = metrics.render(snapshot).split('\n');

    std::vector<std::pair<std::string, std::string>> families; // name, type
    std::vector<std::set<std::string>> labels;
    for (const QByteArray &line : lines) {
        if (line.startsWith("# TYPE ")) {
            const QList<QByteArray> parts = line.split(' ');
            families.emplace_back(parts.value(2).toStdString(), parts.value(3).toStdString());
            labels.emplace_back();
        } else if (!line.isEmpty() && !line.startsWith('#') && !families.empty()) {
            const qsizetype open = line.indexOf('{');
            const qsizetype close = line.lastIndexOf('}');
            if (open < 0 || close < open)
                continue;
            for (const QByteArray &pair : line.mid(open + 1, close - open - 1).split(',')) {
                const QByteArray name = pair.left(pair.indexOf('='));
                if (name != "le")
                    labels.back().insert(name.toStdString());
            }
        }
    }

    const auto table = Metrics::families();
    if (families.size() != table.size())
        return "render() writes " + std::to_string(families.size()) + " families, the table has "
               + std::to_string(table.size());
    for (std::size_t i = 0; i < table.size(); ++i) {
        const Metrics::FamilyInfo &f = table[i];
        if (families[i].first != f.name || families[i].second != f.type)
            return "family " + std::to_string(i) + " is " + families[i].first + " (" + families[i].second
                   + ") in render(), " + f.name + " (" + f.type + ") in the table";
        const std::vector<std::string> declared = splitLabels(f.labels);
        if (labels[i] != std::set<std::string>(declared.begin(), declared.end()))
            return std::string(f.name) + ": its labels in render() differ from \"" + f.labels + "\"";
    }
    return {};
}

int printMetrics()
{
    using sidecar::http::Metrics;
    if (const std::string mismatch = checkMetricsTable(); !mismatch.empty()) {
        std::fprintf(stderr, "sidecar-docgen: Metrics::families() does not match render(): %s\n",
                     mismatch.c_str());
        return 1;
    }

    std::string out = "# Metrics reference\n\n";
    out += std::string("Generated from the metric definitions ") + kRegenerate + "\n\n";
    out += kMetricsIntroBefore + std::string(Metrics::kContentType) + kMetricsIntroAfter;
    out += "| metric | type | labels | help | samples |\n|---|---|---|---|---|\n";
    for (const Metrics::FamilyInfo &f : Metrics::families()) {
        std::string labels;
        for (const std::string &label : splitLabels(f.labels))
            labels += (labels.empty() ? "" : ", ") + code(label);
        out += "| " + cell(code(f.name)) + " | " + f.type + " | " + cell(labels) + " | " + cell(prose(f.help))
               + " | " + cell(f.samples) + " |\n";
    }

    out += kHistograms;
    for (const Metrics::FamilyInfo &f : Metrics::families()) {
        if (f.buckets.empty())
            continue;
        std::string bounds;
        for (const double bound : f.buckets)
            bounds += Metrics::numberText(bound).toStdString() + ", ";
        out += "| " + cell(code(f.name)) + " | " + bounds + "+Inf |\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() == 2 && args.at(1) == QLatin1String("tools"))
        return printTools();
    if (args.size() == 2 && args.at(1) == QLatin1String("metrics"))
        return printMetrics();
    std::fprintf(stderr, "usage: sidecar-docgen tools|metrics\n"
                         "  tools    the tool reference (docs/tools.md), as Markdown on stdout\n"
                         "  metrics  the metrics reference (docs/metrics.md), as Markdown on stdout\n");
    return 2;
}
