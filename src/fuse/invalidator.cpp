#include "containerfs/fuse/invalidator.hpp"

#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

Invalidator::Invalidator() { thread_ = std::thread([this] { run(); }); }

Invalidator::~Invalidator() {
  {
    Lock lock(mutex_);
    stopping_ = true;
    session_ = nullptr;
  }
  wake_.notify_all();
  thread_.join();
}

void Invalidator::start(fuse_session* session) {
  Lock lock(mutex_);
  session_ = session;
}

void Invalidator::stop() {
  Lock lock(mutex_);
  session_ = nullptr;
  queue_.clear();
  done_ = pushed_;
  wake_.notify_all();
}

void Invalidator::inode(Node node) { push(Inode{to_ino(node)}); }

void Invalidator::entry(model::ContainerId dir, std::string name) {
  push(Entry{to_ino(Node{dir, model::FileKind::directory}), std::move(name)});
}

void Invalidator::push(Job job) {
  {
    Lock lock(mutex_);
    if (!session_) return;
    queue_.push_back(std::move(job));
    ++pushed_;
  }
  wake_.notify_all();
}

void Invalidator::flush() {
  Lock lock(mutex_);
  const auto target = pushed_;
  wake_.wait(mutex_, [&]() NO_THREAD_SAFETY_ANALYSIS { return done_ >= target || stopping_; });
}

void Invalidator::run() {
  Lock lock(mutex_);
  for (;;) {
    wake_.wait(mutex_, [&]() NO_THREAD_SAFETY_ANALYSIS { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    fuse_session* session = session_;
    lock.unlock();
    int rc = 0;
    if (session) {
      if (auto* e = std::get_if<Entry>(&job)) {
        rc = fuse_lowlevel_notify_inval_entry(session, e->parent, e->name.c_str(), e->name.size());
        // The listing of the directory, and its link count.
        int dir_rc = fuse_lowlevel_notify_inval_inode(session, e->parent, 0, 0);
        if (rc == -ENOENT) rc = dir_rc;
      } else {
        rc = fuse_lowlevel_notify_inval_inode(session, std::get<Inode>(job).ino, 0, 0);
      }
    }
    // ENOENT: the kernel had nothing of it cached.
    if (rc != 0 && rc != -ENOENT && rc != -ENOTCONN)
      log::debug("dropping a cached entry or inode failed: {}", rc);
    lock.lock();
    ++done_;
    wake_.notify_all();
  }
}

}  // namespace containerfs::fuse
