#pragma once

// A valijson adapter over sidecar::json::Value, so that arguments are validated on the very
// tree the request was parsed into (no conversion) and integers are read as 64-bit.
// Debian's valijson 1.0 ships a Qt adapter, but it reads integers with QJsonValue::toInt()
// (32-bit: 2147483648 is "not an integer") and would need a QJsonDocument that has already
// lost key order and big-number text (docs/decisions.md). This follows the shape of
// valijson's own adapters (adapters/qtjson_adapter.hpp): thin wrappers that BasicAdapter
// turns into the full Adapter interface. Internal to libcore/protocol.

#include <valijson/internal/adapter.hpp>
#include <valijson/internal/basic_adapter.hpp>
#include <valijson/internal/frozen_value.hpp>
#include <valijson/exceptions.hpp>

#include "json.h"

namespace valijson::adapters {

class SidecarJsonAdapter;
class SidecarJsonArrayValueIterator;
class SidecarJsonObjectMemberIterator;

using SidecarJsonObjectMember = std::pair<std::string, SidecarJsonAdapter>;

class SidecarJsonArray
{
public:
    using const_iterator = SidecarJsonArrayValueIterator;
    using iterator = SidecarJsonArrayValueIterator;

    SidecarJsonArray() : m_value(&emptyArray()) {}
    explicit SidecarJsonArray(const sidecar::json::Value &value) : m_value(&value)
    {
        if (!value.isArray())
            throwRuntimeError("Value is not an array.");
    }
    SidecarJsonArrayValueIterator begin() const;
    SidecarJsonArrayValueIterator end() const;
    size_t size() const { return m_value->items().size(); }

private:
    static const sidecar::json::Value &emptyArray()
    {
        static const sidecar::json::Value array(sidecar::json::Type::Array);
        return array;
    }
    const sidecar::json::Value *m_value;
};

class SidecarJsonObject
{
public:
    using const_iterator = SidecarJsonObjectMemberIterator;
    using iterator = SidecarJsonObjectMemberIterator;

    SidecarJsonObject() : m_value(&emptyObject()) {}
    explicit SidecarJsonObject(const sidecar::json::Value &value) : m_value(&value)
    {
        if (!value.isObject())
            throwRuntimeError("Value is not an object.");
    }
    SidecarJsonObjectMemberIterator begin() const;
    SidecarJsonObjectMemberIterator end() const;
    SidecarJsonObjectMemberIterator find(const std::string &propertyName) const;
    size_t size() const { return m_value->members().size(); }

private:
    static const sidecar::json::Value &emptyObject()
    {
        static const sidecar::json::Value object(sidecar::json::Type::Object);
        return object;
    }
    const sidecar::json::Value *m_value;
};

class SidecarJsonFrozenValue : public FrozenValue
{
public:
    explicit SidecarJsonFrozenValue(sidecar::json::Value source) : m_value(std::move(source)) {}
    FrozenValue *clone() const override { return new SidecarJsonFrozenValue(m_value); }
    bool equalTo(const Adapter &other, bool strict) const override;

private:
    sidecar::json::Value m_value;
};

class SidecarJsonValue
{
public:
    SidecarJsonValue() : m_value(&emptyObject()) {}
    SidecarJsonValue(const sidecar::json::Value &value) : m_value(&value) {} // NOLINT: implicit as in valijson

    FrozenValue *freeze() const { return new SidecarJsonFrozenValue(*m_value); }

    opt::optional<SidecarJsonArray> getArrayOptional() const
    {
        if (m_value->isArray())
            return opt::make_optional(SidecarJsonArray(*m_value));
        return opt::optional<SidecarJsonArray>();
    }
    bool getArraySize(size_t &result) const
    {
        if (!m_value->isArray())
            return false;
        result = m_value->items().size();
        return true;
    }
    bool getBool(bool &result) const
    {
        if (!m_value->isBool())
            return false;
        result = m_value->toBool();
        return true;
    }
    bool getDouble(double &result) const
    {
        const auto d = m_value->toDouble();
        if (!d)
            return false;
        result = *d;
        return true;
    }
    bool getInteger(int64_t &result) const
    {
        const auto i = m_value->toInt64();
        if (!i)
            return false;
        result = *i;
        return true;
    }
    opt::optional<SidecarJsonObject> getObjectOptional() const
    {
        if (m_value->isObject())
            return opt::make_optional(SidecarJsonObject(*m_value));
        return opt::optional<SidecarJsonObject>();
    }
    bool getObjectSize(size_t &result) const
    {
        if (!m_value->isObject())
            return false;
        result = m_value->members().size();
        return true;
    }
    bool getString(std::string &result) const
    {
        if (!m_value->isString())
            return false;
        result = m_value->text();
        return true;
    }
    static bool hasStrictTypes() { return true; }
    bool isArray() const { return m_value->isArray(); }
    bool isBool() const { return m_value->isBool(); }
    // A number that is not an integer within 64 bits (valijson asks isInteger() first).
    bool isDouble() const { return m_value->isNumber() && !m_value->toInt64(); }
    bool isInteger() const { return m_value->isNumber() && m_value->toInt64().has_value(); }
    bool isNull() const { return m_value->isNull(); }
    bool isNumber() const { return m_value->isNumber(); }
    bool isObject() const { return m_value->isObject(); }
    bool isString() const { return m_value->isString(); }

private:
    static const sidecar::json::Value &emptyObject()
    {
        static const sidecar::json::Value object(sidecar::json::Type::Object);
        return object;
    }
    const sidecar::json::Value *m_value;
};

class SidecarJsonAdapter : public BasicAdapter<SidecarJsonAdapter, SidecarJsonArray, SidecarJsonObjectMember,
                                               SidecarJsonObject, SidecarJsonValue>
{
public:
    SidecarJsonAdapter() : BasicAdapter() {}
    SidecarJsonAdapter(const sidecar::json::Value &value) : BasicAdapter(value) {} // NOLINT
};

class SidecarJsonArrayValueIterator
{
public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = SidecarJsonAdapter;
    using difference_type = SidecarJsonAdapter;
    using pointer = SidecarJsonAdapter *;
    using reference = SidecarJsonAdapter &;

    explicit SidecarJsonArrayValueIterator(std::vector<sidecar::json::Value>::const_iterator itr) : m_itr(itr) {}
    SidecarJsonAdapter operator*() const { return SidecarJsonAdapter(*m_itr); }
    DerefProxy<SidecarJsonAdapter> operator->() const { return DerefProxy<SidecarJsonAdapter>(**this); }
    bool operator==(const SidecarJsonArrayValueIterator &other) const { return m_itr == other.m_itr; }
    bool operator!=(const SidecarJsonArrayValueIterator &other) const { return m_itr != other.m_itr; }
    const SidecarJsonArrayValueIterator &operator++()
    {
        ++m_itr;
        return *this;
    }
    SidecarJsonArrayValueIterator operator++(int)
    {
        SidecarJsonArrayValueIterator pre(m_itr);
        ++m_itr;
        return pre;
    }
    const SidecarJsonArrayValueIterator &operator--()
    {
        --m_itr;
        return *this;
    }
    void advance(std::ptrdiff_t n) { m_itr += n; }

private:
    std::vector<sidecar::json::Value>::const_iterator m_itr;
};

class SidecarJsonObjectMemberIterator
{
public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = SidecarJsonObjectMember;
    using difference_type = SidecarJsonObjectMember;
    using pointer = SidecarJsonObjectMember *;
    using reference = SidecarJsonObjectMember &;

    explicit SidecarJsonObjectMemberIterator(std::vector<sidecar::json::Member>::const_iterator itr) : m_itr(itr) {}
    SidecarJsonObjectMember operator*() const { return SidecarJsonObjectMember(m_itr->key, SidecarJsonAdapter(m_itr->value)); }
    DerefProxy<SidecarJsonObjectMember> operator->() const { return DerefProxy<SidecarJsonObjectMember>(**this); }
    bool operator==(const SidecarJsonObjectMemberIterator &other) const { return m_itr == other.m_itr; }
    bool operator!=(const SidecarJsonObjectMemberIterator &other) const { return m_itr != other.m_itr; }
    const SidecarJsonObjectMemberIterator &operator++()
    {
        ++m_itr;
        return *this;
    }
    SidecarJsonObjectMemberIterator operator++(int)
    {
        SidecarJsonObjectMemberIterator pre(m_itr);
        ++m_itr;
        return pre;
    }
    const SidecarJsonObjectMemberIterator &operator--()
    {
        --m_itr;
        return *this;
    }

private:
    std::vector<sidecar::json::Member>::const_iterator m_itr;
};

template<>
struct AdapterTraits<SidecarJsonAdapter>
{
    using DocumentType = sidecar::json::Value;
    static std::string adapterName() { return "SidecarJsonAdapter"; }
};

inline bool SidecarJsonFrozenValue::equalTo(const Adapter &other, bool strict) const
{
    return SidecarJsonAdapter(m_value).equalTo(other, strict);
}

inline SidecarJsonArrayValueIterator SidecarJsonArray::begin() const
{
    return SidecarJsonArrayValueIterator(m_value->items().begin());
}

inline SidecarJsonArrayValueIterator SidecarJsonArray::end() const
{
    return SidecarJsonArrayValueIterator(m_value->items().end());
}

inline SidecarJsonObjectMemberIterator SidecarJsonObject::begin() const
{
    return SidecarJsonObjectMemberIterator(m_value->members().begin());
}

inline SidecarJsonObjectMemberIterator SidecarJsonObject::end() const
{
    return SidecarJsonObjectMemberIterator(m_value->members().end());
}

inline SidecarJsonObjectMemberIterator SidecarJsonObject::find(const std::string &propertyName) const
{
    const auto &members = m_value->members();
    for (auto it = members.begin(); it != members.end(); ++it) {
        if (it->key == propertyName)
            return SidecarJsonObjectMemberIterator(it);
    }
    return SidecarJsonObjectMemberIterator(members.end());
}

} // namespace valijson::adapters
