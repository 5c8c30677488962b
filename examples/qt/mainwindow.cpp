// mainwindow.cpp - widgets wired to BlobStore and MessageQueue signals.
// Nothing here waits for the network: a button starts a request, and the
// answer's signal updates the widgets when it comes.
#include "mainwindow.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QStatusBar>
#include <QTreeWidget>
#include <QVBoxLayout>

MainWindow::MainWindow(StratusConnection *conn, const QString &store,
    const QString &queue, QWidget *parent)
	: QMainWindow(parent),
	  m_store(new BlobStore(conn, store, this)),
	  m_queue(new MessageQueue(conn, queue, this))
{
	setWindowTitle(QStringLiteral("stratus: %1").arg(
	    conn->base().toString()));

	// Left: the store's blobs, Refresh, Upload... and the progress bar.
	auto *blobBox = new QGroupBox(tr("Blobs in store \"%1\"").arg(store));
	m_blobs = new QTreeWidget;
	m_blobs->setHeaderLabels({tr("Key"), tr("Size"), tr("Modified")});
	m_blobs->setRootIsDecorated(false);
	m_blobs->header()->setSectionResizeMode(0, QHeaderView::Stretch);
	auto *refreshButton = new QPushButton(tr("Refresh"));
	m_uploadButton = new QPushButton(tr("Upload..."));
	m_progress = new QProgressBar;
	m_progress->setRange(0, 100);
	m_progress->setValue(0);
	auto *blobButtons = new QHBoxLayout;
	blobButtons->addWidget(refreshButton);
	blobButtons->addWidget(m_uploadButton);
	blobButtons->addWidget(m_progress, 1);
	auto *blobLayout = new QVBoxLayout(blobBox);
	blobLayout->addWidget(m_blobs);
	blobLayout->addLayout(blobButtons);

	// Right: the queue's messages, Receive, Acknowledge, and a line to
	// send one.
	auto *queueBox = new QGroupBox(tr("Messages of queue \"%1\"").arg(queue));
	m_messages = new QListWidget;
	auto *receiveButton = new QPushButton(tr("Receive"));
	auto *ackButton = new QPushButton(tr("Acknowledge"));
	m_sendEdit = new QLineEdit;
	m_sendEdit->setPlaceholderText(tr("a message to send"));
	m_sendButton = new QPushButton(tr("Send"));
	auto *queueButtons = new QHBoxLayout;
	queueButtons->addWidget(receiveButton);
	queueButtons->addWidget(ackButton);
	auto *sendLine = new QHBoxLayout;
	sendLine->addWidget(m_sendEdit, 1);
	sendLine->addWidget(m_sendButton);
	auto *queueLayout = new QVBoxLayout(queueBox);
	queueLayout->addWidget(m_messages);
	queueLayout->addLayout(queueButtons);
	queueLayout->addLayout(sendLine);

	auto *central = new QWidget;
	auto *layout = new QHBoxLayout(central);
	layout->addWidget(blobBox, 3);
	layout->addWidget(queueBox, 2);
	setCentralWidget(central);
	m_status = new QLabel;
	statusBar()->addWidget(m_status, 1);
	resize(860, 420);

	connect(refreshButton, &QPushButton::clicked, this, &MainWindow::refresh);
	connect(m_uploadButton, &QPushButton::clicked, this,
	    &MainWindow::chooseAndUpload);
	connect(receiveButton, &QPushButton::clicked, this,
	    &MainWindow::receiveMessages);
	connect(ackButton, &QPushButton::clicked, this, &MainWindow::ackSelected);
	connect(m_sendButton, &QPushButton::clicked, this,
	    &MainWindow::sendMessage);
	connect(m_sendEdit, &QLineEdit::returnPressed, this,
	    &MainWindow::sendMessage);

	// The answers.
	connect(m_store, &BlobStore::listed, this,
	    [this](const QString &, const QList<BlobInfo> &items) {
		m_blobs->clear();
		for (const BlobInfo &b : items) {
			auto *row = new QTreeWidgetItem(m_blobs, {b.key,
			    QLocale().formattedDataSize(b.size),
			    QLocale().toString(b.lastModified.toLocalTime(),
			    QLocale::ShortFormat)});
			row->setTextAlignment(1, Qt::AlignRight);
		}
		m_status->setText(tr("%n blob(s)", nullptr, items.size()));
		emit listRefreshed(items);
	});
	connect(m_store, &BlobStore::uploadProgress, this,
	    [this](const QString &, qint64 sent, qint64 total) {
		if (total > 0)
			m_progress->setValue(int(sent * 100 / total));
	});
	connect(m_store, &BlobStore::uploaded, this,
	    [this](const QString &key, const QString &, qint64 size) {
		m_progress->setValue(100);
		m_uploadButton->setEnabled(true);
		m_status->setText(tr("uploaded %1 (%2)").arg(key,
		    QLocale().formattedDataSize(size)));
		emit uploadFinished(key, true);
		refresh();
	});
	connect(m_store, &BlobStore::failed, this,
	    [this](const QString &operation, const StratusError &e) {
		showError(operation, e);
		if (operation == "upload") {
			m_uploadButton->setEnabled(true);
			emit uploadFinished(QString(), false);
		}
	});
	connect(m_queue, &MessageQueue::received, this,
	    [this](const QList<QueueMessage> &list) {
		for (const QueueMessage &m : list) {
			auto *item = new QListWidgetItem(
			    tr("%1   (delivery %2)").arg(m.body)
			    .arg(m.dequeueCount), m_messages);
			item->setData(Qt::UserRole, m.receipt);
		}
		m_status->setText(tr("%n message(s) received", nullptr,
		    list.size()));
		emit messagesShown(m_messages->count());
	});
	connect(m_queue, &MessageQueue::sent, this, [this](const QString &id) {
		m_status->setText(tr("sent message %1").arg(id));
		receiveMessages();
	});
	connect(m_queue, &MessageQueue::acked, this,
	    [this](const QString &receipt) {
		for (int i = 0; i < m_messages->count(); i++)
			if (m_messages->item(i)->data(Qt::UserRole) == receipt)
				delete m_messages->takeItem(i--);
		m_status->setText(tr("acknowledged"));
	});
	connect(m_queue, &MessageQueue::failed, this, &MainWindow::showError);

	// The queue may not exist yet: create it (204 if it does), then
	// show what is waiting in it.
	connect(m_queue, &MessageQueue::created, this,
	    &MainWindow::receiveMessages);
	m_queue->create();
	refresh();
}

int MainWindow::blobCount() const
{
	return m_blobs->topLevelItemCount();
}

int MainWindow::messageCount() const
{
	return m_messages->count();
}

int MainWindow::progress() const
{
	return m_progress->value();
}

QString MainWindow::statusText() const
{
	return m_status->text();
}

void MainWindow::refresh()
{
	m_store->list();
}

void MainWindow::chooseAndUpload()
{
	QString path = QFileDialog::getOpenFileName(this, tr("Upload a file"));
	if (!path.isEmpty())
		uploadFile(path);
}

void MainWindow::uploadFile(const QString &path)
{
	QString key = QFileInfo(path).fileName();
	m_uploadButton->setEnabled(false);	// one upload at a time here
	m_progress->setValue(0);
	m_status->setText(tr("uploading %1...").arg(key));
	m_store->upload(key, path);
}

void MainWindow::receiveMessages()
{
	// Up to 10, hidden from other receivers for 5 minutes: long enough
	// to look at them and acknowledge.
	m_queue->receive(10, 300, 0);
}

void MainWindow::sendMessage()
{
	QString text = m_sendEdit->text();
	if (text.isEmpty())
		return;
	m_sendEdit->clear();
	m_queue->send(text);
}

void MainWindow::ackSelected()
{
	for (QListWidgetItem *item : m_messages->selectedItems())
		m_queue->ack(item->data(Qt::UserRole).toString());
}

void MainWindow::showError(const QString &operation, const StratusError &e)
{
	m_status->setText(tr("%1 failed: %2").arg(operation, e.toString()));
}
