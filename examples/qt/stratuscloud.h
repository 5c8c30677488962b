// stratuscloud.h - a small asynchronous Qt client for stratusd: blob
// stores, queues and tables, on QNetworkAccessManager.
//
// In the spirit of the "Generic Qt Cloud API" once sketched on the Qt wiki
// ("Qt and Cloud computing"): one API for blob, queue and table storage
// that hides which cloud provider is behind it, and that is asynchronous,
// unlike QFile. Here the daemon already hides the provider (local disk,
// Amazon or Azure), so these classes only speak its REST API: each call
// returns at once, and its outcome arrives as a signal.
//
//     StratusConnection conn(QUrl("http://127.0.0.1:8980"), token);
//     BlobStore photos(&conn, "photos");
//     connect(&photos, &BlobStore::uploaded, ...);
//     photos.upload("cats/tom.jpg", "/home/ann/tom.jpg");
//
// Every class has a failed(operation, error) signal; error.code is the
// daemon's stable error code ("not_found", "precondition_failed", ...).
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QObject>
#include <QString>
#include <QUrl>
#include <QUrlQuery>

class QIODevice;
class QNetworkReply;

// An error answer of the daemon (or of the network: status 0).
struct StratusError {
	int status = 0;
	QString code;		// "not_found", "forbidden", ...; "network" when no answer
	QString message;
	QString requestId;	// quote it when reporting a problem
	QString toString() const;
};

// The daemon's address and token, and the one QNetworkAccessManager the
// store, queue and table objects share (it keeps connections alive).
class StratusConnection : public QObject {
	Q_OBJECT
public:
	// base: e.g. http://127.0.0.1:8980; token: empty for anonymous access.
	StratusConnection(const QUrl &base, const QByteArray &token,
	    QObject *parent = nullptr);

	// Starts one request. path is already percent-encoded; a PUT, POST
	// or PATCH sends body. startUpload() streams a body from a device
	// instead, which must stay open until the reply finishes.
	QNetworkReply *start(const QByteArray &verb, const QByteArray &path,
	    const QUrlQuery &query = QUrlQuery(), const QByteArray &body = {},
	    const QList<QPair<QByteArray, QByteArray>> &headers = {});
	QNetworkReply *startUpload(const QByteArray &path, QIODevice *body,
	    qint64 size, const QByteArray &contentType);

	// True when a finished reply is an error, which is then put in
	// *error; false when it succeeded (a 2xx answer).
	static bool errorOf(QNetworkReply *reply, StratusError *error);
	// A name or key as a URL path segment (every byte percent-encoded
	// but the unreserved ones; '/' kept when keepSlash).
	static QByteArray encode(const QString &s, bool keepSlash = false);

	QUrl base() const { return m_base; }

private:
	QNetworkRequest request(const QByteArray &path,
	    const QUrlQuery &query) const;

	QNetworkAccessManager m_nam;
	QUrl m_base;
	QByteArray m_token;
};

struct BlobInfo {
	QString key;
	qint64 size = 0;
	QString etag;
	QDateTime lastModified;
};

// A blob store: list, upload (with progress), download, remove.
class BlobStore : public QObject {
	Q_OBJECT
public:
	BlobStore(StratusConnection *conn, const QString &name,
	    QObject *parent = nullptr);
	QString name() const { return m_name; }

	void list(const QString &prefix = QString());	// every page
	void upload(const QString &key, const QString &filePath);
	void download(const QString &key);
	void remove(const QString &key);

signals:
	void listed(const QString &prefix, const QList<BlobInfo> &items);
	void uploadProgress(const QString &key, qint64 sent, qint64 total);
	void uploaded(const QString &key, const QString &etag, qint64 size);
	void downloaded(const QString &key, const QByteArray &data);
	void removed(const QString &key);
	void failed(const QString &operation, const StratusError &error);

private:
	void listPage(const QString &prefix, const QString &cursor,
	    QList<BlobInfo> items);
	QByteArray path(const QString &key) const;

	StratusConnection *m_conn;
	QString m_name;
};

struct QueueMessage {
	QString id;
	QString receipt;	// acknowledges this delivery
	QString body;
	int dequeueCount = 0;	// 2 and more: delivered again
	QDateTime enqueuedAt;
};

// A queue: send, receive (long poll), acknowledge.
class MessageQueue : public QObject {
	Q_OBJECT
public:
	MessageQueue(StratusConnection *conn, const QString &name,
	    QObject *parent = nullptr);
	QString name() const { return m_name; }

	void create();
	void send(const QString &body);
	void receive(int max = 10, int visibility = 30, int wait = 0);
	void ack(const QString &receipt);

signals:
	void created();
	void sent(const QString &id);
	void received(const QList<QueueMessage> &messages);
	void acked(const QString &receipt);
	void failed(const QString &operation, const StratusError &error);

private:
	StratusConnection *m_conn;
	QString m_name;
};

struct TableEntity {
	QString pk, rk;
	QString etag;		// pass it to put() to replace only this version
	QJsonObject data;
};

// A table: entities (flat JSON objects) under a partition and row key,
// with optimistic concurrency: put() with the etag read fails with
// error.code "precondition_failed" (412) when someone wrote first.
class Table : public QObject {
	Q_OBJECT
public:
	Table(StratusConnection *conn, const QString &name,
	    QObject *parent = nullptr);

	void create();
	void get(const QString &pk, const QString &rk);
	// ifMatch: an etag, "*" (only if it exists) or empty (always).
	void put(const QString &pk, const QString &rk, const QJsonObject &data,
	    const QString &ifMatch = QString());
	void list(const QString &pk, const QString &prefix = QString());

signals:
	void created();
	void got(const TableEntity &entity);
	void stored(const QString &pk, const QString &rk, const QString &etag);
	void listed(const QString &pk, const QList<TableEntity> &entities);
	void failed(const QString &operation, const StratusError &error);

private:
	QByteArray path(const QString &pk, const QString &rk = QString()) const;

	StratusConnection *m_conn;
	QString m_name;
};
