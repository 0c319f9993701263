import { Component, type ReactNode } from "react";

// A bug in one screen shows as an error there, not as a blank page.
export class Crash extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    if (this.state.error) {
      return (
        <div role="alert" className="error">
          <strong>This screen failed: {this.state.error.message}</strong>
        </div>
      );
    }
    return this.props.children;
  }
}
