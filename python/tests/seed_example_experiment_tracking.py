# examples/experiment_tracking.py

from research_sdk import Experiment
from typing import Optional
import time

# Инициализация эксперимента
exp = Experiment(
    project="vision_transformer",
    name="vit_base_imagenet",
    team_id="team-123",
    api_url="http://localhost:8000",
    api_key="your-api-key",
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
        
        loss = 0.42  # пример
        accuracy = 0.95
        
        step = epoch * len(train_loader) + batch_idx
        
        # Логирование одной метрики
        exp.log_metric("loss", loss, step=step)
        
        # Или через буфер (более эффективно)
        exp.buffer_metric("accuracy", accuracy, step=step)
        
        # Периодический flushh буфера
        if batch_idx % 100 == 0:
            exp.flush_metrics()
    
    print(f"Epoch {epoch} completed")

# Логирование артефактов
exp.log_artifacts(path="./checkpoints", pattern="*.pt")

# Завершение эксперимента
exp.finish(status="complete")

print("Experiment tracking completed!")
