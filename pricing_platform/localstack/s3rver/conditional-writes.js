'use strict';
// s3rver 3.7 ignores If-None-Match and If-Match on PUT Object. The broker's S3 storage (Rust object_store)
// relies on them: it creates a partition's watermark with If-None-Match: * and updates it with If-Match,
// re-reading on 412. Ignored, a restarted broker's create overwrote the stored watermark and it handed
// out offsets from 0 again, overwriting acknowledged batches. Loaded with `node --require` before s3rver.
const S3Error = require('s3rver/lib/models/error');
const objectCtrl = require('s3rver/lib/controllers/object');

const putObject = objectCtrl.putObject;
const unquote = value => value.trim().replace(/^W\//, '').replace(/^"|"$/g, '');

function failed(header) {
  return new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
    Condition: header,
  });
}

objectCtrl.putObject = async function conditionalPutObject(ctx) {
  const ifNoneMatch = ctx.headers['if-none-match'];
  const ifMatch = ctx.headers['if-match'];
  if (ifNoneMatch || ifMatch) {
    const { bucket, key } = ctx.params;
    const exists = await ctx.store.existsObject(bucket, key);
    const etag = exists ? unquote(JSON.parse((await ctx.store.getMetadata(bucket, key)).etag || '""')) : null;
    if (ifNoneMatch && exists && (ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').map(unquote).includes(etag))) {
      throw failed('If-None-Match');
    }
    if (ifMatch && (!exists || (ifMatch.trim() !== '*' && !ifMatch.split(',').map(unquote).includes(etag)))) {
      throw failed('If-Match');
    }
  }
  return putObject(ctx);
};
