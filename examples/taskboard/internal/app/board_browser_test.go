package app

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// browserBoard is TestBrowser's part on the board view, with Robin logged in on roasters and its
// project "Spring blend" holding the task "Taste-test three roasts": the React view lists that
// task (a GraphQL read), creates a task and moves it to doing (GraphQL writes with the session
// and its X-Taskboard-Client header), and the server-rendered project page then shows the new task as doing.
func browserBoard(t *testing.T, ctx context.Context, e *env, shot func(string) chromedp.Action) {
	const task = "Order green beans"
	card := func(status, title string) string {
		return `//section[@id="board-` + status + `"]//a[text()="` + title + `"]`
	}
	var projectPage string
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.url("roasters", "/board")),
		chromedp.WaitVisible(card("todo", "Taste-test three roasts")),
		chromedp.SendKeys(`#board-task-title`, task, chromedp.ByID),
		chromedp.Click(`#board-task-submit`, chromedp.ByID),
		chromedp.WaitVisible(card("todo", task)),
		chromedp.Click(card("todo", task)+`/ancestor::div[@data-task]//button[@title="Move to doing"]`),
		chromedp.WaitVisible(card("doing", task)),
		shot("03b-board.png"),
		chromedp.Click(`#board-project-page`, chromedp.ByID),
		chromedp.WaitVisible(`//table[@id="tasks"]//a[text()="`+task+`"]`),
		chromedp.Text(`#tasks`, &projectPage, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("board view: %v", err)
	}
	for _, line := range strings.Split(projectPage, "\n") {
		if strings.Contains(line, task) {
			if !strings.Contains(line, "doing") {
				t.Errorf("project page shows the board's task as %q, want doing", line)
			}
			return
		}
	}
	t.Errorf("project page does not list the board's task:\n%s", projectPage)
}
