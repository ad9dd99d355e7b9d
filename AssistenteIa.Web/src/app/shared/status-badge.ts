import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import type { TaskStatus } from '../api/api-types';

@Component({
  selector: 'app-status-badge',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<span class="badge" [class]="'badge status-' + status()" data-testid="status">{{ status() }}</span>`,
})
export class StatusBadge {
  readonly status = input.required<TaskStatus>();
}
