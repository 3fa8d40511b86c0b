#pragma once

// PrefixListModel<Derived, Item, Page>: the paging the Leases and Sessions tables share. It lists
// the items under a prefix with a SidecarClient call that takes a PageQuery (lease_list,
// session_list), in the server's order, a page at a time as the view scrolls (canFetchMore /
// fetchMore); reload() re-reads the rows shown in one call and merges them by key, keeping the
// selection. An answer that comes after setClient(), setPrefix() or another reload() is dropped.
// Derived (CRTP) declares the signals loaded() and errorOccurred(QString), emitted after each page
// and on a failed call.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include <QPointer>
#include <QString>

#include <algorithm>

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

template<class Derived, class Item, class Page>
class PrefixListModel : public KeyedTableModel<Item>
{
public:
    using ListCall = void (client::SidecarClient::*)(const client::PageQuery &, client::ResultCallback<Page>);
    static constexpr int kPageSize = 200;

    // `list` reads one page; its items are `Page::*items`. `reloadError` and `moreError` are the
    // messages of a failed reload and a failed fetchMore, with %1 for the error's message.
    PrefixListModel(ListCall list, QList<Item> Page::*items, QString reloadError, QString moreError,
                    QObject *parent)
        : KeyedTableModel<Item>(parent), m_list(list), m_pageItems(items),
          m_reloadError(std::move(reloadError)), m_moreError(std::move(moreError))
    {}

    // The client to read with (nullptr: none; the rows stay, greyed). Does not reload by itself.
    void setClient(client::SidecarClient *client)
    {
        m_client = client;
        ++m_generation;
        m_loading = false;
        m_fetching = false;
        this->setStale(client == nullptr);
    }
    void setPrefix(const QString &prefix)
    {
        m_prefix = prefix;
        ++m_generation;
        m_cursor.clear();
        this->clearItems();
        reload();
    }
    QString prefix() const { return m_prefix; }
    void reload()
    {
        if (!m_client)
            return;
        m_fetching = false;
        m_loading = true;
        client::PageQuery query;
        query.prefix = m_prefix;
        const int shown = std::max<int>(kPageSize, int(this->m_items.size()));
        query.limit = std::min(kMaxLimit, (shown + kPageSize - 1) / kPageSize * kPageSize);
        request(query, false);
    }
    bool isLoading() const { return m_loading; }
    bool hasMore() const { return !m_cursor.isEmpty(); }

    bool canFetchMore(const QModelIndex &parent) const override
    {
        return !parent.isValid() && m_client && !m_cursor.isEmpty() && !m_fetching && !m_loading;
    }
    void fetchMore(const QModelIndex &parent) override
    {
        if (!canFetchMore(parent))
            return;
        m_fetching = true;
        client::PageQuery query;
        query.prefix = m_prefix;
        query.limit = kPageSize;
        query.cursor = m_cursor;
        request(query, true);
    }

private:
    static constexpr int kMaxLimit = 10000; // lease_list's and session_list's largest page

    // A reload (a new generation; the answer replaces the rows) or a next page (appended).
    void request(const client::PageQuery &query, bool more)
    {
        const quint64 generation = more ? m_generation : ++m_generation;
        QPointer<PrefixListModel> self(this);
        (m_client->*m_list)(query, [self, generation, more](Result<Page> result) {
            if (!self || generation != self->m_generation)
                return;
            (more ? self->m_fetching : self->m_loading) = false;
            auto *derived = static_cast<Derived *>(self.data());
            if (!result) {
                emit derived->errorOccurred(
                    (more ? self->m_moreError : self->m_reloadError).arg(result.error().message));
                return;
            }
            self->m_cursor = result->nextCursor;
            if (more)
                self->appendItems((*result).*(self->m_pageItems));
            else
                self->mergeItems((*result).*(self->m_pageItems));
            emit derived->loaded();
        });
    }

    ListCall m_list;
    QList<Item> Page::*m_pageItems;
    QString m_reloadError;
    QString m_moreError;
    client::SidecarClient *m_client = nullptr;
    QString m_prefix;
    QString m_cursor;
    quint64 m_generation = 0;
    bool m_loading = false;
    bool m_fetching = false;
};

} // namespace sidecar::inspector
