// The JSON layer: strict parsing, values kept exactly as sent, duplicate keys reported,
// 64-bit integers, and the writer's escaping.

#include <QtTest>

#include "protocol/json.h"
#include "protocol/jsonschema.h"

using namespace sidecar::json;

class TestJson : public QObject
{
    Q_OBJECT
private slots:
    void compactKeepsText_data();
    void compactKeepsText();
    void rejectsInvalid_data();
    void rejectsInvalid();
    void duplicateKeys_data();
    void duplicateKeys();
    void integers_data();
    void integers();
    void decodesStrings();
    void depthLimit();
    void writerEscapes();
    void writerDoubles();
    void schemaValidates64BitIntegers();
    void schemaReportsPath();
};

void TestJson::compactKeepsText_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("compact");
    QTest::newRow("key order") << QByteArray(R"({"b":1, "a":2})") << QByteArray(R"({"b":1,"a":2})");
    QTest::newRow("big integer") << QByteArray("12345678901234567890123") << QByteArray("12345678901234567890123");
    QTest::newRow("decimal text") << QByteArray("[1.0, -0.0, 1e400, 0.1000]")
                                  << QByteArray("[1.0,-0.0,1e400,0.1000]");
    QTest::newRow("escapes kept") << QByteArray(R"( "a\u00e9\/b" )") << QByteArray(R"("a\u00e9\/b")");
    QTest::newRow("whitespace in strings kept") << QByteArray("{ \"a b\" : \" x \" }")
                                                << QByteArray("{\"a b\":\" x \"}");
    QTest::newRow("nested") << QByteArray("{\n \"x\": [ {}, [], null, true, false ]\r\n}")
                            << QByteArray(R"({"x":[{},[],null,true,false]})");
    QTest::newRow("utf8") << QByteArray("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"") << QByteArray("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
    QTest::newRow("escaped quote then space") << QByteArray(R"(["a\" b", 1])") << QByteArray(R"(["a\" b",1])");
}

void TestJson::compactKeepsText()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, compact);
    ParseError error;
    auto doc = parse(input, &error);
    QVERIFY2(doc, error.message.c_str());
    QCOMPARE(doc->root().compact(), compact);
    // Compacting is idempotent and reparses to the same text.
    auto again = parse(compact);
    QVERIFY(again);
    QCOMPARE(again->root().compact(), compact);
}

void TestJson::rejectsInvalid_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("trailing garbage") << QByteArray("{} x");
    QTest::newRow("trailing comma") << QByteArray("[1,]");
    QTest::newRow("single quotes") << QByteArray("{'a':1}");
    QTest::newRow("leading zero") << QByteArray("01");
    QTest::newRow("bare dot") << QByteArray("1.");
    QTest::newRow("plus sign") << QByteArray("+1");
    QTest::newRow("NaN") << QByteArray("NaN");
    QTest::newRow("control char") << QByteArray("\"a\x01\"");
    QTest::newRow("bad escape") << QByteArray(R"("\x")");
    QTest::newRow("lone surrogate") << QByteArray(R"("\ud800")");
    QTest::newRow("invalid utf8") << QByteArray("\"\xff\"");
    QTest::newRow("overlong utf8") << QByteArray("\"\xc0\xaf\"");
    QTest::newRow("utf8 surrogate") << QByteArray("\"\xed\xa0\x80\"");
    QTest::newRow("unterminated") << QByteArray("{\"a\":");
    QTest::newRow("comment") << QByteArray("/* x */ 1");
}

void TestJson::rejectsInvalid()
{
    QFETCH(QByteArray, input);
    ParseError error;
    QVERIFY(!parse(input, &error));
    QVERIFY(!error.message.empty());
}

void TestJson::duplicateKeys_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("own");
    QTest::addColumn<bool>("any");
    QTest::newRow("none") << QByteArray(R"({"a":1,"b":{"a":2}})") << false << false;
    QTest::newRow("top") << QByteArray(R"({"a":1,"a":2})") << true << true;
    QTest::newRow("nested") << QByteArray(R"({"a":{"x":1,"x":2}})") << false << true;
    QTest::newRow("in array") << QByteArray(R"({"a":[{"x":1,"x":2}]})") << false << true;
    QByteArray big = "{";
    for (int i = 0; i < 100; ++i)
        big += "\"k" + QByteArray::number(i) + "\":" + QByteArray::number(i) + ",";
    QTest::newRow("large, unique") << QByteArray(big + "\"z\":0}") << false << false;
    QTest::newRow("large, repeated") << QByteArray(big + "\"k7\":0}") << true << true;
}

void TestJson::duplicateKeys()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, own);
    QFETCH(bool, any);
    auto doc = parse(input);
    QVERIFY(doc);
    QCOMPARE(doc->root().hasOwnDuplicateKeys(), own);
    QCOMPARE(doc->root().hasDuplicateKeys(), any);
}

void TestJson::integers_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("isInt");
    QTest::addColumn<qint64>("value");
    QTest::newRow("zero") << QByteArray("0") << true << qint64(0);
    QTest::newRow("2^31") << QByteArray("2147483648") << true << qint64(2147483648LL);
    QTest::newRow("int64 max") << QByteArray("9223372036854775807") << true << std::numeric_limits<qint64>::max();
    QTest::newRow("int64 min") << QByteArray("-9223372036854775808") << true << std::numeric_limits<qint64>::min();
    QTest::newRow("over int64") << QByteArray("9223372036854775808") << false << qint64(0);
    QTest::newRow("1.0 is integral") << QByteArray("1.0") << true << qint64(1);
    QTest::newRow("1e3 is integral") << QByteArray("1e3") << true << qint64(1000);
    QTest::newRow("fraction") << QByteArray("1.5") << false << qint64(0);
}

void TestJson::integers()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, isInt);
    QFETCH(qint64, value);
    auto doc = parse(input);
    QVERIFY(doc);
    const auto v = doc->root().toInt64();
    QCOMPARE(v.has_value(), isInt);
    if (isInt)
        QCOMPARE(qint64(*v), value);
}

void TestJson::decodesStrings()
{
    auto doc = parse(R"({"k\u00e9y":"a\nb\ud83d\ude00\"\\"})");
    QVERIFY(doc);
    const Member &m = doc->root().members().front();
    QCOMPARE(QString::fromStdString(m.key), QStringLiteral("k\u00e9y"));
    QCOMPARE(m.value.toQString(), QString::fromUtf8("a\nb\xf0\x9f\x98\x80\"\\"));
}

void TestJson::depthLimit()
{
    QByteArray deep(300, '[');
    deep += QByteArray(300, ']');
    ParseError error;
    QVERIFY(!parse(deep, &error));
    QVERIFY(QByteArray::fromStdString(error.message).contains("deep"));
    QByteArray ok(200, '[');
    ok += QByteArray(200, ']');
    QVERIFY(parse(ok));
}

void TestJson::writerEscapes()
{
    Writer w;
    w.beginObject().field("s", std::string_view("q\"b\\n\n\x01\xc3\xa9")).field("n", std::int64_t(-5));
    w.key("a").beginArray().value(true).null().raw(QByteArray(R"({"x":1})")).endArray();
    w.endObject();
    // (moc's preprocessor mis-reads raw strings inside macro arguments: keep them outside.)
    const QByteArray expected = QByteArray(R"({"s":"q\"b\\n\n\u0001)") + "\xc3\xa9" +
                                QByteArray(R"(","n":-5,"a":[true,null,{"x":1}]})");
    QCOMPARE(w.data(), expected);
    QVERIFY(parse(w.data()));
}

void TestJson::writerDoubles()
{
    Writer w;
    w.beginArray().value(1.5).value(1700000000.123).value(2.0).value(1e300).endArray();
    QCOMPARE(w.data(), QByteArray("[1.5,1700000000.123,2,1e+300]"));
}

void TestJson::schemaValidates64BitIntegers()
{
    auto schema = JsonSchema::compile(R"({"type":"object","properties":{"n":{"type":"integer","minimum":0}},
                                          "additionalProperties":false})");
    QVERIFY(schema);
    auto big = parse(R"({"n":4294967296000})");
    QVERIFY(schema->validate(big->root()).isEmpty());
    auto negative = parse(R"({"n":-1})");
    QVERIFY(!schema->validate(negative->root()).isEmpty());
    auto fraction = parse(R"({"n":1.5})");
    QVERIFY(!schema->validate(fraction->root()).isEmpty());
    auto beyond = parse(R"({"n":99999999999999999999999})");
    QVERIFY(!schema->validate(beyond->root()).isEmpty());
    auto hugeSchema = JsonSchema::compile(R"({"type":"number","minimum":0.001,"maximum":31536000})");
    QVERIFY(hugeSchema);
    for (const char *bad : {"1e400", "-1e400", "1e-400", "0"}) {
        auto v = parse(bad);
        QVERIFY2(!hugeSchema->validate(v->root()).isEmpty(), bad);
    }
    auto fine = parse("0.5");
    QVERIFY(hugeSchema->validate(fine->root()).isEmpty());
    auto extra = parse(R"({"m":1})");
    QVERIFY(schema->validate(extra->root()).contains(QLatin1String("m")));
}

void TestJson::schemaReportsPath()
{
    auto schema = JsonSchema::compile(
        R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}})");
    QVERIFY(schema);
    auto doc = parse(R"({"a":{"b":5}})");
    const QString message = schema->validate(doc->root());
    QVERIFY2(message.contains(QLatin1String("a.b")), qPrintable(message));
}

QTEST_GUILESS_MAIN(TestJson)
#include "tst_json.moc"
