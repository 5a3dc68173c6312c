// examples/experiment_tracking.ts
// The design document's example 1 with the TypeScript SDK (@assay/sdk): the same run, line for
// line, in camelCase — see experiment_tracking.py for the Python original and what changed there
// (placeholders from ASSAY_API_URL / ASSAY_API_KEY, a simulated train_loader and training step,
// one checkpoint file). The TS-only differences: calls that talk to the server are awaited, and
// the TS run is named "vit_base_imagenet_ts" so it sits beside the Python one instead of resuming it.
// Run from the repository root: npx tsx examples/experiment_tracking.ts
import fs from 'node:fs';
import { Experiment } from '@assay/sdk';

const trainLoader = Array.from({ length: 10 }, () => [null, null] as const); // simulated: 10 batches of (images, labels)
const trainStep = (step: number) => [2.0 / (1.0 + step / 100.0), 1.0 - 0.5 / (1.0 + step / 100.0)] as const; // stand-in for training

// Инициализация эксперимента
const exp = await Experiment.create({
  project: 'vision_transformer',
  name: 'vit_base_imagenet_ts',
  teamId: 'team-123',
  apiUrl: process.env.ASSAY_API_URL ?? 'http://localhost:8000',
  apiKey: process.env.ASSAY_API_KEY ?? 'your-api-key',
});

// Логирование конфигурации
await exp.logFeatures({
  model: { architecture: 'ViT-Base', patch_size: 16, hidden_dim: 768 },
  training: { optimizer: 'AdamW', learning_rate: 1e-4, batch_size: 256, epochs: 100 },
});

// Логирование кода
await exp.logCodeSnapshot('git_diff');

// Тренировка модели с логированием метрик
for (let epoch = 0; epoch < 100; epoch++) {
  for (const [batchIdx] of trainLoader.entries()) {
    const step = epoch * trainLoader.length + batchIdx;
    const [loss, accuracy] = trainStep(step);
    exp.logMetric('loss', loss, step); // one metric (buffered and sent in batches by the SDK)
    exp.bufferMetric('accuracy', accuracy, step);
    if (batchIdx % 100 === 0) await exp.flushMetrics(); // periodic flush, as in the document
  }
  console.log(`Epoch ${epoch} completed`);
}

fs.mkdirSync('./checkpoints', { recursive: true });
fs.writeFileSync('./checkpoints/vit_base_epoch_99.pt', 'simulated checkpoint\n');

// Логирование артефактов
await exp.logArtifacts('./checkpoints', '*.pt');

// Завершение эксперимента
await exp.finish('complete');

console.log('Experiment tracking completed!');
