// mainwindow.h - the example's window: the blobs of a store (with an
// upload button and its progress bar) beside the messages of a queue.
#pragma once

#include <QMainWindow>

#include "stratuscloud.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QTreeWidget;

class MainWindow : public QMainWindow {
	Q_OBJECT
public:
	MainWindow(StratusConnection *conn, const QString &store,
	    const QString &queue, QWidget *parent = nullptr);

	// What the buttons do; public so that a test can do it too, through
	// the same code.
	QPushButton *sendButton() const { return m_sendButton; }
	QLineEdit *sendEdit() const { return m_sendEdit; }
	int blobCount() const;
	int messageCount() const;
	int progress() const;		// the progress bar, 0-100
	QString statusText() const;	// the status bar's text

public slots:
	void refresh();				// lists the store again
	void chooseAndUpload();			// the Upload... button
	void uploadFile(const QString &path);	// uploads under its file name
	void receiveMessages();			// the Receive button
	void sendMessage();			// the Send button
	void ackSelected();			// the Acknowledge button

signals:
	// For whoever drives the window (main.cpp's --self-test).
	void listRefreshed(const QList<BlobInfo> &items);
	void uploadFinished(const QString &key, bool ok);
	void messagesShown(int count);

private:
	void showError(const QString &operation, const StratusError &e);

	BlobStore *m_store;
	MessageQueue *m_queue;

	QTreeWidget *m_blobs;
	QPushButton *m_uploadButton;
	QProgressBar *m_progress;
	QListWidget *m_messages;
	QLineEdit *m_sendEdit;
	QPushButton *m_sendButton;
	QLabel *m_status;
};
