'use strict';
// s3rver 3.7 answers every ListObjects by walking the bucket's directories with a stat of every file (three
// per object) and reading each listed object's metadata from disk, once per page of 1000 keys: a full
// listing of n objects costs O(n²/1000) system calls. The broker lists a partition's whole `records/`
// directory on every fetch that finds new data, so the endpoint's CPU grew with every batch the topics
// retained. Here a directory holding only objects (a partition's batches, a lake partition) is listed
// from a sorted index of its object names with each one's ETag, size and modification time, read from
// disk once and then kept current by this process's own PUT, COPY and DELETE; a page is a binary search
// and a slice. Any other listing (a delimiter other than "/", a prefix that is not a directory, a
// directory with subdirectories) goes to s3rver's own walk. Every write to the bucket directory must go
// through this server (the stack's do); a restart reads the directories afresh. Loaded with
// `node --require` after atomic-puts.js, whose PUT it wraps.
const fs = require('fs');
const path = require('path');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Object = require('s3rver/lib/models/object');

const OBJECT_SUFFIX = '._S3rver_object';
const walkListing = FilesystemStore.prototype.listObjects;
const putObject = FilesystemStore.prototype.putObject;
const copyObject = FilesystemStore.prototype.copyObject;
const putMetadata = FilesystemStore.prototype.putMetadata;
const deleteObject = FilesystemStore.prototype.deleteObject;
const deleteBucket = FilesystemStore.prototype.deleteBucket;

// Per store: directories indexed so far ("bucket/prefix" → Directory) and, per object whose listing
// details are being read, whether a write has since made that read stale.
const states = new WeakMap();

function state(store) {
  let s = states.get(store);
  if (!s) {
    s = { directories: new Map(), reading: new Map() };
    states.set(store, s);
  }
  return s;
}

class Directory {
  constructor(names) {
    this.names = names; // sorted object names (the key without the directory's prefix)
    this.details = new Map(); // name → [etag, size, mtime ms], filled as names are listed
  }

  // Index of the first name after `name` (names are kept in s3rver's own order: JavaScript's <).
  after(name) {
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.names[middle] <= name) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  has(name) {
    return this.names[this.after(name) - 1] === name;
  }

  add(name) {
    const at = this.after(name);
    if (this.names[at - 1] !== name) this.names.splice(at, 0, name);
    this.details.delete(name);
  }

  remove(name) {
    const at = this.after(name) - 1;
    if (at >= 0 && this.names[at] === name) this.names.splice(at, 1);
    this.details.delete(name);
  }
}

const indexable = (prefix, delimiter) =>
  prefix.endsWith('/') &&
  !prefix.startsWith('/') &&
  !prefix.includes('//') &&
  (delimiter === '' || delimiter === '/') &&
  FilesystemStore.encodeKeyPath(prefix) === prefix;

// The directory of `prefix`, read from disk the first time; null when it holds subdirectories.
function directory(store, bucket, prefix) {
  const { directories } = state(store);
  const id = `${bucket}/${prefix}`;
  const known = directories.get(id);
  if (known) return known;
  let entries;
  try {
    entries = fs.readdirSync(path.join(store.getBucketPath(bucket), ...prefix.split('/').filter(Boolean)), {
      withFileTypes: true,
    });
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    entries = [];
  }
  if (entries.some(entry => entry.isDirectory())) return null;
  const names = entries
    .filter(entry => entry.name.endsWith(OBJECT_SUFFIX))
    .map(entry => FilesystemStore.decodeKeyPath(entry.name.slice(0, -OBJECT_SUFFIX.length)))
    .sort();
  const created = new Directory(names);
  directories.set(id, created);
  return created;
}

// A write to `key`: its directory's index gains or loses the name, a directory above it that was indexed
// now has a subdirectory (and goes back to s3rver's walk), and a read of its details in flight is stale.
function written(store, bucket, key, exists) {
  const { directories, reading } = state(store);
  const parts = key.split('/');
  const name = parts.pop();
  for (let depth = 0; depth < parts.length; depth += 1) {
    const prefix = parts.slice(0, depth).join('/');
    const id = `${bucket}/${prefix ? `${prefix}/` : ''}`;
    if (directories.has(id)) directories.delete(id);
  }
  const own = directories.get(`${bucket}/${parts.length ? `${parts.join('/')}/` : ''}`);
  if (own) {
    if (exists) own.add(name);
    else own.remove(name);
  }
  for (const read of reading.get(`${bucket}/${key}`) || []) read.stale = true;
}

async function details(store, bucket, prefix, dir, name) {
  const cached = dir.details.get(name);
  if (cached) return cached;
  const { reading } = state(store);
  const id = `${bucket}/${prefix}${name}`;
  const read = { stale: false };
  if (!reading.has(id)) reading.set(id, new Set());
  reading.get(id).add(read);
  try {
    const metadata = await store.getMetadata(bucket, prefix + name);
    const found = [metadata.etag, Number(metadata['content-length']), Date.parse(metadata['last-modified'])];
    if (!read.stale) dir.details.set(name, found);
    return found;
  } catch (err) {
    if (err.code === 'ENOENT') return undefined; // deleted meanwhile: not listed
    throw err;
  } finally {
    const reads = reading.get(id);
    reads.delete(read);
    if (!reads.size) reading.delete(id);
  }
}

FilesystemStore.prototype.listObjects = async function indexedListObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  if (!indexable(prefix, delimiter)) return walkListing.call(this, bucket, options);
  const dir = directory(this, bucket, prefix);
  if (!dir) return walkListing.call(this, bucket, options);
  const objects = [];
  let at;
  if (startAfter.startsWith(prefix)) at = dir.after(startAfter.slice(prefix.length));
  else at = startAfter < prefix ? 0 : dir.names.length;
  while (objects.length < maxKeys && at < dir.names.length) {
    const names = dir.names.slice(at, at + Math.min(maxKeys - objects.length, 1000));
    const found = await Promise.all(names.map(name => details(this, bucket, prefix, dir, name)));
    names.forEach((name, i) => {
      if (!found[i]) return;
      const [etag, size, modified] = found[i];
      objects.push(
        new S3Object(bucket, prefix + name, null, {
          etag,
          'content-length': size,
          'last-modified': new Date(modified).toUTCString(),
        }),
      );
    });
    // Writes while the details were read may have moved the names: carry on after the last one seen.
    at = dir.after(names[names.length - 1]);
  }
  return { objects, commonPrefixes: [], isTruncated: at < dir.names.length };
};
FilesystemStore.prototype.putObject = async function indexedPutObject(object) {
  const result = await putObject.call(this, object);
  written(this, object.bucket, object.key, true);
  return result;
};

FilesystemStore.prototype.copyObject = async function indexedCopyObject(
  srcBucket,
  srcKey,
  destBucket,
  destKey,
  ...rest
) {
  const result = await copyObject.call(this, srcBucket, srcKey, destBucket, destKey, ...rest);
  written(this, destBucket, destKey, true);
  return result;
};

FilesystemStore.prototype.putMetadata = async function indexedPutMetadata(bucket, key, ...rest) {
  const result = await putMetadata.call(this, bucket, key, ...rest);
  const exists = fs.existsSync(this.getResourcePath(bucket, key, 'object'));
  written(this, bucket, key, exists);
  return result;
};

FilesystemStore.prototype.deleteObject = async function indexedDeleteObject(bucket, key) {
  const parts = key.split('/');
  const name = parts.pop();
  const dir = state(this).directories.get(`${bucket}/${parts.length ? `${parts.join('/')}/` : ''}`);
  if (!dir || dir.names.length <= (dir.has(name) ? 1 : 0)) {
    // Possibly the last object of its directory: s3rver's own delete, which removes emptied directories.
    await deleteObject.call(this, bucket, key);
  } else {
    // Others remain, so the directory stays: skip s3rver's emptiness check (a read of the whole directory).
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map(resource =>
        fs.promises.unlink(this.getResourcePath(bucket, key, resource)).catch(err => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  }
  written(this, bucket, key, false);
};

FilesystemStore.prototype.deleteBucket = async function indexedDeleteBucket(bucket) {
  const { directories } = state(this);
  for (const id of [...directories.keys()]) if (id.startsWith(`${bucket}/`)) directories.delete(id);
  return deleteBucket.call(this, bucket);
};
