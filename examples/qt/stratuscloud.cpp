// stratuscloud.cpp - the requests behind BlobStore, MessageQueue and
// Table. Each method starts a request and returns; a lambda connected to
// the reply's finished() turns the answer into a signal and frees the
// reply.
#include "stratuscloud.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>

QString StratusError::toString() const
{
	QString s = QStringLiteral("%1 %2: %3").arg(status).arg(code, message);
	if (!requestId.isEmpty())
		s += QStringLiteral(" (request %1)").arg(requestId);
	return s;
}

StratusConnection::StratusConnection(const QUrl &base, const QByteArray &token,
    QObject *parent)
	: QObject(parent), m_base(base), m_token(token)
{
}

QByteArray StratusConnection::encode(const QString &s, bool keepSlash)
{
	return QUrl::toPercentEncoding(s, keepSlash ? "/~" : "~");
}

QNetworkRequest StratusConnection::request(const QByteArray &path,
    const QUrlQuery &query) const
{
	// Built from encoded bytes, so that a key's "%2B" stays "%2B".
	QByteArray url = m_base.toEncoded(QUrl::StripTrailingSlash) + path;
	if (!query.isEmpty())
		url += '?' + query.query(QUrl::FullyEncoded).toLatin1();
	QNetworkRequest req(QUrl::fromEncoded(url, QUrl::StrictMode));
	if (!m_token.isEmpty())
		req.setRawHeader("Authorization", "Bearer " + m_token);
	return req;
}

QNetworkReply *StratusConnection::start(const QByteArray &verb,
    const QByteArray &path, const QUrlQuery &query, const QByteArray &body,
    const QList<QPair<QByteArray, QByteArray>> &headers)
{
	QNetworkRequest req = request(path, query);
	for (const auto &h : headers)
		req.setRawHeader(h.first, h.second);
	if (verb == "PUT" || verb == "POST" || verb == "PATCH")
		return m_nam.sendCustomRequest(req, verb, body);
	return m_nam.sendCustomRequest(req, verb);
}

QNetworkReply *StratusConnection::startUpload(const QByteArray &path,
    QIODevice *body, qint64 size, const QByteArray &contentType)
{
	QNetworkRequest req = request(path, QUrlQuery());
	req.setHeader(QNetworkRequest::ContentTypeHeader, contentType);
	req.setHeader(QNetworkRequest::ContentLengthHeader, size);
	return m_nam.put(req, body);	// streamed from the device
}

bool StratusConnection::errorOf(QNetworkReply *reply, StratusError *e)
{
	int status = reply->attribute(
	    QNetworkRequest::HttpStatusCodeAttribute).toInt();
	if (status >= 200 && status < 300)
		return false;
	e->status = status;
	e->requestId = QString::fromLatin1(reply->rawHeader("X-Request-Id"));
	QJsonObject err = QJsonDocument::fromJson(reply->readAll())
	    .object().value("error").toObject();
	if (!err.isEmpty()) {
		e->code = err.value("code").toString();
		e->message = err.value("message").toString();
	} else {
		e->code = status == 0 ? "network" : "http";
		e->message = reply->errorString();
	}
	return true;
}

// Calls onSuccess(reply) when the reply succeeded, else emits
// failed(operation, error) on obj; frees the reply either way.
template <class Obj, class Fn>
static void whenDone(QNetworkReply *reply, Obj *obj, const QString &operation,
    Fn onSuccess)
{
	QObject::connect(reply, &QNetworkReply::finished, obj,
	    [reply, obj, operation, onSuccess]() {
		StratusError e;
		if (StratusConnection::errorOf(reply, &e))
			emit obj->failed(operation, e);
		else
			onSuccess(reply);
		reply->deleteLater();
	});
}

static QJsonObject jsonOf(QNetworkReply *reply)
{
	return QJsonDocument::fromJson(reply->readAll()).object();
}

// ------------------------------------------------------------------ blobs

BlobStore::BlobStore(StratusConnection *conn, const QString &name,
    QObject *parent)
	: QObject(parent), m_conn(conn), m_name(name)
{
}

QByteArray BlobStore::path(const QString &key) const
{
	return "/v1/blobs/" + StratusConnection::encode(m_name) + "/" +
	    StratusConnection::encode(key, true);
}

void BlobStore::list(const QString &prefix)
{
	listPage(prefix, QString(), {});
}

// A listing comes in pages: ask for the next one with the cursor of this
// one until it is null, then emit them all.
void BlobStore::listPage(const QString &prefix, const QString &cursor,
    QList<BlobInfo> items)
{
	QUrlQuery q;
	if (!prefix.isEmpty())
		q.addQueryItem("prefix", QString::fromLatin1(
		    StratusConnection::encode(prefix)));
	if (!cursor.isEmpty())
		q.addQueryItem("cursor", QString::fromLatin1(
		    StratusConnection::encode(cursor)));
	QNetworkReply *r = m_conn->start("GET", "/v1/blobs/" +
	    StratusConnection::encode(m_name), q);
	whenDone(r, this, "list", [this, prefix, items](QNetworkReply *reply) {
		QJsonObject page = jsonOf(reply);
		QList<BlobInfo> all = items;
		for (const QJsonValue &v : page.value("items").toArray()) {
			QJsonObject o = v.toObject();
			BlobInfo b;
			b.key = o.value("key").toString();
			b.size = o.value("size").toInteger();
			b.etag = o.value("etag").toString();
			b.lastModified = QDateTime::fromString(
			    o.value("last_modified").toString(), Qt::ISODate);
			all.append(b);
		}
		QJsonValue next = page.value("next_cursor");
		if (next.isString())
			listPage(prefix, next.toString(), all);
		else
			emit listed(prefix, all);
	});
}

void BlobStore::upload(const QString &key, const QString &filePath)
{
	auto *file = new QFile(filePath);
	if (!file->open(QIODevice::ReadOnly)) {
		StratusError e;
		e.code = "file";
		e.message = file->errorString();
		delete file;
		emit failed("upload", e);
		return;
	}
	QNetworkReply *r = m_conn->startUpload(path(key), file, file->size(),
	    "application/octet-stream");
	file->setParent(r);	// closed and freed with the reply
	connect(r, &QNetworkReply::uploadProgress, this,
	    [this, key](qint64 sent, qint64 total) {
		emit uploadProgress(key, sent, total);
	});
	whenDone(r, this, "upload", [this, key](QNetworkReply *reply) {
		QJsonObject o = jsonOf(reply);
		emit uploaded(key, o.value("etag").toString(),
		    o.value("size").toInteger());
	});
}

void BlobStore::download(const QString &key)
{
	QNetworkReply *r = m_conn->start("GET", path(key));
	whenDone(r, this, "download", [this, key](QNetworkReply *reply) {
		emit downloaded(key, reply->readAll());
	});
}

void BlobStore::remove(const QString &key)
{
	QNetworkReply *r = m_conn->start("DELETE", path(key));
	whenDone(r, this, "remove", [this, key](QNetworkReply *) {
		emit removed(key);
	});
}

// ----------------------------------------------------------------- queues

MessageQueue::MessageQueue(StratusConnection *conn, const QString &name,
    QObject *parent)
	: QObject(parent), m_conn(conn), m_name(name)
{
}

void MessageQueue::create()
{
	QNetworkReply *r = m_conn->start("PUT", "/v1/queues/" +
	    StratusConnection::encode(m_name));
	whenDone(r, this, "create", [this](QNetworkReply *) {
		emit created();
	});
}

void MessageQueue::send(const QString &body)
{
	QNetworkReply *r = m_conn->start("POST", "/v1/queues/" +
	    StratusConnection::encode(m_name) + "/messages", QUrlQuery(),
	    body.toUtf8(), {{"Content-Type", "text/plain; charset=utf-8"}});
	whenDone(r, this, "send", [this](QNetworkReply *reply) {
		emit sent(jsonOf(reply).value("id").toString());
	});
}

void MessageQueue::receive(int max, int visibility, int wait)
{
	QUrlQuery q;
	q.addQueryItem("max", QString::number(max));
	q.addQueryItem("visibility", QString::number(visibility));
	q.addQueryItem("wait", QString::number(wait));
	QNetworkReply *r = m_conn->start("GET", "/v1/queues/" +
	    StratusConnection::encode(m_name) + "/messages", q);
	whenDone(r, this, "receive", [this](QNetworkReply *reply) {
		QList<QueueMessage> list;
		for (const QJsonValue &v :
		    jsonOf(reply).value("messages").toArray()) {
			QJsonObject o = v.toObject();
			QueueMessage m;
			m.id = o.value("id").toString();
			m.receipt = o.value("receipt").toString();
			m.body = o.value("body").toString();
			m.dequeueCount = o.value("dequeue_count").toInt();
			m.enqueuedAt = QDateTime::fromString(
			    o.value("enqueued_at").toString(), Qt::ISODate);
			list.append(m);
		}
		emit received(list);
	});
}

void MessageQueue::ack(const QString &receipt)
{
	// A receipt is URL-safe as it is.
	QNetworkReply *r = m_conn->start("DELETE", "/v1/queues/" +
	    StratusConnection::encode(m_name) + "/messages/" +
	    receipt.toLatin1());
	whenDone(r, this, "ack", [this, receipt](QNetworkReply *) {
		emit acked(receipt);
	});
}

// ----------------------------------------------------------------- tables

Table::Table(StratusConnection *conn, const QString &name, QObject *parent)
	: QObject(parent), m_conn(conn), m_name(name)
{
}

QByteArray Table::path(const QString &pk, const QString &rk) const
{
	QByteArray p = "/v1/tables/" + StratusConnection::encode(m_name);
	if (!pk.isEmpty())
		p += "/" + StratusConnection::encode(pk);
	if (!rk.isEmpty())
		p += "/" + StratusConnection::encode(rk);
	return p;
}

static TableEntity entityOf(const QJsonObject &o)
{
	TableEntity e;
	e.pk = o.value("pk").toString();
	e.rk = o.value("rk").toString();
	e.etag = o.value("etag").toString();
	e.data = o.value("data").toObject();
	return e;
}

void Table::create()
{
	QNetworkReply *r = m_conn->start("PUT", path(QString()));
	whenDone(r, this, "create", [this](QNetworkReply *) {
		emit created();
	});
}

void Table::get(const QString &pk, const QString &rk)
{
	QNetworkReply *r = m_conn->start("GET", path(pk, rk));
	whenDone(r, this, "get", [this](QNetworkReply *reply) {
		emit got(entityOf(jsonOf(reply)));
	});
}

void Table::put(const QString &pk, const QString &rk, const QJsonObject &data,
    const QString &ifMatch)
{
	QList<QPair<QByteArray, QByteArray>> headers{
	    {"Content-Type", "application/json"}};
	if (!ifMatch.isEmpty())
		headers.append({"If-Match", ifMatch.toUtf8()});
	QNetworkReply *r = m_conn->start("PUT", path(pk, rk), QUrlQuery(),
	    QJsonDocument(data).toJson(QJsonDocument::Compact), headers);
	whenDone(r, this, "put", [this, pk, rk](QNetworkReply *reply) {
		emit stored(pk, rk, jsonOf(reply).value("etag").toString());
	});
}

void Table::list(const QString &pk, const QString &prefix)
{
	QUrlQuery q;
	if (!prefix.isEmpty())
		q.addQueryItem("prefix", QString::fromLatin1(
		    StratusConnection::encode(prefix)));
	QNetworkReply *r = m_conn->start("GET", path(pk), q);
	// One page (up to 1000 entities) is enough for this example.
	whenDone(r, this, "list", [this, pk](QNetworkReply *reply) {
		QList<TableEntity> list;
		for (const QJsonValue &v : jsonOf(reply).value("items").toArray())
			list.append(entityOf(v.toObject()));
		emit listed(pk, list);
	});
}
