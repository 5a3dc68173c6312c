# examples/experiment_tracking.py
# The design document's example 1 ("Полный пример SDK для логирования метрик"), as written there.
# Every line that differs from the document says "# changed:" and why:
#   - the placeholders api_url/api_key come from ASSAY_API_URL / ASSAY_API_KEY (the document's
#     values stay the defaults), so the file runs against your server as is;
#   - the document's `train_loader` and training step are undefined there: a tiny simulated loader
#     (10 batches per epoch) and a deterministic "training step" (loss falls, accuracy rises)
#     stand in for them — 100 epochs x 10 batches = 1000 steps of loss and accuracy;
#   - a checkpoint file is written at the end, so `log_artifacts` has a "*.pt" to upload.
# team_id="team-123" is the document's: the SDK checks it against the API key's team (id or name),
# so create the team with that name: `npx assay team create team-123` (examples/README.md).

from research_sdk import Experiment
from typing import Optional
import os  # changed: placeholders from the environment, checkpoint directory
import time


class SimulatedLoader:  # changed: the document's train_loader is undefined; 10 batches of (images, labels)
    def __len__(self):
        return 10

    def __iter__(self):
        return iter([(None, None)] * len(self))


def train_step(step):  # changed: a stand-in for the document's "# ... обучение ..."
    return 2.0 / (1.0 + step / 100.0), 1.0 - 0.5 / (1.0 + step / 100.0)


train_loader = SimulatedLoader()  # changed: see SimulatedLoader

# Инициализация эксперимента
exp = Experiment(
    project="vision_transformer",
    name="vit_base_imagenet",
    team_id="team-123",
    api_url=os.environ.get("ASSAY_API_URL", "http://localhost:8000"),  # changed: placeholder from the environment
    api_key=os.environ.get("ASSAY_API_KEY", "your-api-key"),  # changed: placeholder from the environment
)

# Логирование конфигурации
exp.log_features({
    'model': {
        'architecture': 'ViT-Base',
        'patch_size': 16,
        'hidden_dim': 768,
    },
    'training': {
        'optimizer': 'AdamW',
        'learning_rate': 1e-4,
        'batch_size': 256,
        'epochs': 100,
    }
})

# Логирование кода
exp.log_code_snapshot("git_diff")

# Тренировка модели с логированием метрик
for epoch in range(100):
    for batch_idx, (images, labels) in enumerate(train_loader):
        # ... обучение ...

        step = epoch * len(train_loader) + batch_idx

        loss, accuracy = train_step(step)  # changed: the document logs constants (0.42, 0.95) here

        # Логирование одной метрики
        exp.log_metric("loss", loss, step=step)

        # Или через буфер (более эффективно)
        exp.buffer_metric("accuracy", accuracy, step=step)

        # Периодический flushh буфера
        if batch_idx % 100 == 0:
            exp.flush_metrics()

    print(f"Epoch {epoch} completed")

os.makedirs("./checkpoints", exist_ok=True)  # changed: the stand-in training writes one checkpoint
with open("./checkpoints/vit_base_epoch_99.pt", "wb") as f:  # changed: (a real job would torch.save here)
    f.write(b"simulated checkpoint\n")

# Логирование артефактов
exp.log_artifacts(path="./checkpoints", pattern="*.pt")

# Завершение эксперимента
exp.finish(status="complete")

print("Experiment tracking completed!")
