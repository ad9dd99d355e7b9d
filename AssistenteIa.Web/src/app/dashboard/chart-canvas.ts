import {
  ChangeDetectionStrategy, Component, ElementRef, afterRenderEffect, inject, input, DestroyRef, viewChild,
} from '@angular/core';
import { Chart, registerables, type ChartConfiguration } from 'chart.js';

Chart.register(...registerables);

/** A Chart.js chart on a canvas; the chart is updated in place when its configuration changes. */
@Component({
  selector: 'app-chart',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<div class="chart-box"><canvas #canvas role="img" [attr.aria-label]="label()"></canvas></div>`,
})
export class ChartCanvas {
  readonly config = input.required<ChartConfiguration>();
  readonly label = input.required<string>();
  private readonly canvas = viewChild.required<ElementRef<HTMLCanvasElement>>('canvas');
  private chart: Chart | null = null;
  private type: string | null = null;

  constructor() {
    afterRenderEffect(() => {
      const config = this.config();
      if (this.chart && this.type === config.type) {
        this.chart.data = config.data;
        this.chart.options = config.options ?? {};
        this.chart.update();
      } else {
        this.chart?.destroy();
        this.chart = new Chart(this.canvas().nativeElement, config);
        this.type = config.type;
      }
    });
    inject(DestroyRef).onDestroy(() => this.chart?.destroy());
  }
}
