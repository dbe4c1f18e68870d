'use strict';
// s3rver 3.7 writes an object in place: a PUT whose client is killed mid-body leaves a truncated object,
// and a GET racing a PUT can read a partial one, where S3 replaces an object whole or not at all. The
// broker rewrites its cluster metadata and partition watermarks with PUTs, and a truncated metadata
// object once left every fetch failing. Here each object (and its metadata) is written to a temporary file
// beside it and renamed into place only once the whole body is on disk; a cut-off body is discarded and
// the previous object stays. Loaded with `node --require` before s3rver.
const crypto = require('crypto');
const fs = require('fs-extra');
const path = require('path');
const { Transform, pipeline } = require('stream');
const { pick, pickBy } = require('lodash');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Object = require('s3rver/lib/models/object');

// Not an object to s3rver's listing, which keeps only names ending in `._S3rver_object`.
const temporaryPath = target => `${target}.${crypto.randomBytes(6).toString('hex')}.partial`;

async function replaceFile(target, content) {
  const temporary = temporaryPath(target);
  try {
    await fs.writeFile(temporary, content);
    await fs.rename(temporary, target);
  } catch (err) {
    await fs.remove(temporary);
    throw err;
  }
}

FilesystemStore.prototype.putObject = async function atomicPutObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(objectPath));
  const temporary = temporaryPath(objectPath);
  const md5Context = crypto.createHash('md5');
  let size = 0;
  try {
    if (Buffer.isBuffer(object.content)) {
      await fs.writeFile(temporary, object.content);
      md5Context.update(object.content);
      size = object.content.length;
    } else {
      const count = new Transform({
        transform(chunk, encoding, callback) {
          md5Context.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      // pipeline fails on a body that ends early (its client gone), and resolves once the file is closed.
      await new Promise((resolve, reject) =>
        pipeline(object.content, count, fs.createWriteStream(temporary), err => (err ? reject(err) : resolve())),
      );
    }
    await fs.rename(temporary, objectPath);
  } catch (err) {
    await fs.remove(temporary);
    throw err;
  }
  const md5 = md5Context.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size, md5 };
};

FilesystemStore.prototype.putMetadata = async function atomicPutMetadata(bucket, key, metadata, md5) {
  const json = {
    ...pick(metadata, S3Object.ALLOWED_METADATA),
    ...pickBy(metadata, (value, name) => name.startsWith('x-amz-meta-')),
  };
  if (md5) await replaceFile(this.getResourcePath(bucket, key, 'object.md5'), md5);
  await replaceFile(this.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(json, null, 2));
};
