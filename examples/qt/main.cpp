// main.cpp - stratus-qt: a window on a stratusd blob store and queue.
//
//   stratus-qt [--url URL] [--store NAME] [--queue NAME]
//   stratus-qt ... --self-test FILE --screenshot PNG [--send TEXT]
//
// The URL defaults to $STRATUS_URL, else http://127.0.0.1:8980; the token
// is $STRATUS_TOKEN (none: anonymous). --self-test drives the window
// through the code its buttons run: it sends TEXT with the Send button,
// uploads FILE as the Upload button does once a file is chosen, waits
// until the store's list shows it, saves a picture of the window to PNG,
// notes the upload in the table "users" (--table) with the Table class
// and reads it back, and exits 0 (1 on any failure, or after 60 seconds).
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonDocument>
#include <QPushButton>
#include <QLineEdit>
#include <QTimer>

#include <cstdio>

#include "mainwindow.h"

static void say(const QString &line)
{
	std::printf("%s\n", qPrintable(line));
	std::fflush(stdout);
}

// The self-test, step by step, each started by the signal that ends the
// one before.
static void selfTest(StratusConnection *conn, MainWindow *w,
    const QString &file, const QString &text, const QString &png,
    const QString &tableName)
{
	const QString key = QFileInfo(file).fileName();
	auto fail = [](const QString &why) {
		say("FAILED: " + why);
		QCoreApplication::exit(1);
	};

	// 4. Note the upload in a table, read it back, and stop. (The
	// window has no table; this shows the Table class at work.)
	auto *table = new Table(conn, tableName, w);
	QObject::connect(table, &Table::failed, w,
	    [fail](const QString &op, const StratusError &e) {
		fail("table " + op + ": " + e.toString());
	});
	QObject::connect(table, &Table::created, w, [table, key, file]() {
		table->put("uploads", key, {{"file", key},
		    {"bytes", QFileInfo(file).size()}});
	});
	QObject::connect(table, &Table::stored, table, &Table::get);
	QObject::connect(table, &Table::got, w, [tableName](const TableEntity &e) {
		say(QStringLiteral("table %1, %2/%3: %4").arg(tableName, e.pk,
		    e.rk, QString::fromUtf8(QJsonDocument(e.data)
		    .toJson(QJsonDocument::Compact))));
		QCoreApplication::exit(0);
	});

	// 3. The store lists the new blob: take the picture.
	QObject::connect(w, &MainWindow::listRefreshed, w,
	    [w, key, png, fail, table](const QList<BlobInfo> &items) {
		bool there = false;
		for (const BlobInfo &b : items)
			there = there || b.key == key;
		if (!there || w->property("uploaded").isNull())
			return;	// the list from before the upload
		say(QStringLiteral("the store lists %1 blob(s), %2 among them")
		    .arg(items.size()).arg(key));
		QPixmap picture = w->grab();
		if (!picture.save(png, "PNG"))
			return fail("cannot write " + png);
		say(QStringLiteral("screenshot: %1 (%2x%3)")
		    .arg(QFileInfo(png).fileName())
		    .arg(picture.width()).arg(picture.height()));
		table->create();	// 201, or 204 when it is there
	});

	// 2. Upload the file, as the Upload... button does after its
	// file dialog.
	auto upload = [w, file]() { w->uploadFile(file); };
	QObject::connect(w, &MainWindow::uploadFinished, w,
	    [w, fail](const QString &k, bool ok) {
		if (!ok)
			return fail("upload: " + w->statusText());
		w->setProperty("uploaded", k);
		say(QStringLiteral("uploaded %1 through the window: "
		    "progress bar at %2%").arg(k).arg(w->progress()));
	});

	// 1. Type the message and click Send; once the queue's list shows
	// it, go on to the upload.
	QObject::connect(w, &MainWindow::messagesShown, w,
	    [w, upload](int count) {
		if (count == 0 || w->property("shown").toBool())
			return;
		w->setProperty("shown", true);
		say(QStringLiteral("the queue shows %1 message(s)").arg(count));
		upload();
	});
	if (text.isEmpty()) {
		w->setProperty("shown", true);
		QTimer::singleShot(0, w, upload);
	} else {
		w->sendEdit()->setText(text);
		QTimer::singleShot(0, w->sendButton(), &QPushButton::click);
		say(QStringLiteral("sent \"%1\" with the Send button").arg(text));
	}

	QTimer::singleShot(60000, w, [fail]() { fail("timed out"); });
}

int main(int argc, char **argv)
{
	QApplication app(argc, argv);
	QApplication::setApplicationName("stratus-qt");

	QCommandLineParser cl;
	cl.setApplicationDescription("A window on a stratusd blob store and queue.");
	cl.addHelpOption();
	QCommandLineOption url("url", "daemon URL ($STRATUS_URL)", "URL",
	    qEnvironmentVariable("STRATUS_URL", "http://127.0.0.1:8980"));
	QCommandLineOption store("store", "blob store", "NAME", "scratch");
	QCommandLineOption queue("queue", "queue", "NAME", "jobs");
	QCommandLineOption test("self-test", "upload FILE through the window, "
	    "take a screenshot, quit", "FILE");
	QCommandLineOption send("send", "with --self-test: send TEXT first",
	    "TEXT");
	QCommandLineOption shot("screenshot", "with --self-test: where to save "
	    "the picture", "PNG", "stratus-qt.png");
	QCommandLineOption table("table", "with --self-test: the table to note "
	    "the upload in", "NAME", "users");
	cl.addOptions({url, store, queue, test, send, shot, table});
	cl.process(app);

	StratusConnection conn(QUrl(cl.value(url)),
	    qEnvironmentVariable("STRATUS_TOKEN").toUtf8());
	MainWindow w(&conn, cl.value(store), cl.value(queue));
	w.show();
	if (cl.isSet(test))
		selfTest(&conn, &w, cl.value(test), cl.value(send),
		    cl.value(shot), cl.value(table));
	return app.exec();
}
