import { ChangeDetectionStrategy, Component } from '@angular/core';
import { RouterLink } from '@angular/router';

@Component({
  selector: 'app-not-found',
  imports: [RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<section class="card empty-state"><h1>Page not found</h1><p><a routerLink="/tasks">Go to the tasks</a></p></section>`,
})
export class NotFoundPage {}
