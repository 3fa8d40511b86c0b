// Fuzz target "http": the request parser (libcore/transport/httprequestparser.h) on arbitrary bytes,
// as a client could send them on one keep-alive connection.
//
// The input is parsed three times: whole, one byte at a time, and in pieces of 2-14 bytes (as TCP
// may deliver it). Each run checks every request it completes (method a token, header names
// lower-case tokens, the counted head and the body within the limits) and that a refusal is one of
// 400, 413, 431, 505. The runs must agree: up to the first refusal in either, they complete the
// same requests (a refusal itself may come earlier in a run that waits between pieces, as libhttp-
// parser's own count of an unfinished head is checked between pieces only).

#include <algorithm>
#include <string_view>

#include <QByteArray>
#include <QList>

#include "fuzzsupport.h"
#include "transport/httprequestparser.h"

using namespace sidecar;
using http::HttpRequestParser;

namespace {

// Small limits, so that 413 and 431 are within a fuzzer's reach (the server's are 16 KiB and 3 MiB).
constexpr qint64 kMaxHeaderBytes = 1024;
constexpr qint64 kMaxBodyBytes = 4096;

struct Parsed
{
    QByteArray method, target, path, query, body;
    int versionMinor = 0;
    http::HttpHeaders headers;
    bool keepAlive = false;
    bool isHead = false;
    bool expectContinue = false;

    bool operator==(const Parsed &) const = default;
};

struct Outcome
{
    QList<Parsed> requests;
    int errorStatus = 0; // 0: no refusal, all input consumed
};

bool isTokenChar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void checkRequest(const Parsed &r)
{
    FUZZ_CHECK(!r.method.isEmpty());
    for (char c : r.method)
        FUZZ_CHECK(isTokenChar(c));
    qint64 head = r.method.size() + r.target.size() + 14; // kRequestLineOverhead
    for (const auto &[name, value] : r.headers) {
        for (char c : name)
            FUZZ_CHECK(isTokenChar(c) && !(c >= 'A' && c <= 'Z'));
        FUZZ_CHECK(!value.endsWith(' ') && !value.endsWith('\t'));
        head += name.size() + value.size() + 4;
    }
    FUZZ_CHECK(head <= kMaxHeaderBytes);
    FUZZ_CHECK(r.body.size() <= kMaxBodyBytes);
    FUZZ_CHECK(r.versionMinor >= 0);
    FUZZ_CHECK(r.target.startsWith(r.path) || !r.target.startsWith('/'));
}

// piece 0: the whole input at once.
Outcome run(const QByteArray &input, qsizetype piece)
{
    Outcome out;
    HttpRequestParser parser(kMaxHeaderBytes, kMaxBodyBytes);
    qsizetype fed = 0;
    bool expectContinue = false;
    for (;;) {
        const HttpRequestParser::Step step = parser.parse();
        expectContinue = parser.takeExpectContinue() || expectContinue;
        if (step == HttpRequestParser::Step::Request) {
            FUZZ_CHECK(parser.phase() == HttpRequestParser::Phase::Complete);
            const http::HttpRequest &r = parser.request();
            Parsed p{r.method,  r.target,           r.path,          r.query,       r.body, r.versionMinor,
                     r.headers, parser.keepAlive(), parser.isHead(), expectContinue};
            checkRequest(p);
            out.requests.append(std::move(p));
            expectContinue = false;
            parser.nextRequest();
            continue;
        }
        if (step == HttpRequestParser::Step::Error) {
            out.errorStatus = parser.errorStatus();
            FUZZ_CHECK(out.errorStatus == 400 || out.errorStatus == 413 || out.errorStatus == 431
                       || out.errorStatus == 505);
            FUZZ_CHECK(parser.errorDescription() != nullptr);
            return out;
        }
        if (fed == input.size())
            return out;
        const qsizetype n = piece == 0 ? input.size() - fed : std::min(piece, input.size() - fed);
        parser.append(QByteArrayView(input).sliced(fed, n));
        fed += n;
    }
}

void compare(const Outcome &a, const Outcome &b)
{
    const qsizetype common = std::min(a.requests.size(), b.requests.size());
    for (qsizetype i = 0; i < common; ++i)
        FUZZ_CHECK(a.requests[i] == b.requests[i]);
    if (a.errorStatus == 0 && b.errorStatus == 0)
        FUZZ_CHECK(a.requests.size() == b.requests.size());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const Outcome whole = run(input, 0);
    const Outcome bytes = run(input, 1);
    const Outcome pieces = run(input, 2 + qsizetype(size % 13));
    compare(whole, bytes);
    compare(whole, pieces);
    return 0;
}
